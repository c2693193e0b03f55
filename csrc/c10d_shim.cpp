// The C ABI between synthgen (src/nn/distributed/ffi.rs) and libtorch's own distributed
// backend, c10d: a TCPStore rendezvous, ProcessGroupGloo (CPU), and the collectives that
// PyTorch's DistributedDataParallel uses (bucketed all-reduce, broadcast, barrier, all-gather).
// Tensors cross as tch's `C_tensor` pointers, which are `at::Tensor*` (torch-sys's libtch).
//
// Every entry point catches C++ exceptions and returns them as a malloc'd message in `*err`
// (freed with sg_c10d_free_message); nothing throws across the boundary.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
  int rank;
  int world;
};

char* copy_message(const std::string& s) {
  char* m = static_cast<char*>(std::malloc(s.size() + 1));
  if (m != nullptr) {
    std::memcpy(m, s.c_str(), s.size() + 1);
  }
  return m;
}

// Runs `f`, turning an exception into -1 and a message.
template <typename F>
int guarded(char** err, F&& f) {
  try {
    f();
    return 0;
  } catch (const c10::Error& e) {
    *err = copy_message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *err = copy_message(e.what());
  } catch (...) {
    *err = copy_message("unknown C++ exception");
  }
  return -1;
}

void wait(const Group& g, const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait(g.timeout);
}

// Consecutive runs of tensors with the same dtype and device whose bytes stay within
// `bucket_bytes` (a single larger tensor makes a bucket of its own), as DDP's buckets.
std::vector<std::vector<at::Tensor>> buckets(
    at::Tensor* const* ts,
    size_t n,
    int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& t = *ts[i];
    int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
    bool same = !out.empty() && out.back().front().scalar_type() == t.scalar_type() &&
        out.back().front().device() == t.device();
    if (!same || bytes + b > bucket_bytes) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += b;
  }
  return out;
}

at::Tensor flatten(const std::vector<at::Tensor>& bucket) {
  std::vector<at::Tensor> flat;
  flat.reserve(bucket.size());
  for (const auto& t : bucket) {
    flat.push_back(t.reshape({-1}));
  }
  return at::cat(flat);
}

void unflatten(const at::Tensor& flat, std::vector<at::Tensor>& bucket) {
  int64_t offset = 0;
  for (auto& t : bucket) {
    int64_t n = t.numel();
    t.copy_(flat.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

} // namespace

extern "C" {

typedef struct sg_c10d_group sg_c10d_group;

void sg_c10d_free_message(char* m) {
  std::free(m);
}

// Rendezvous at host:port (rank 0 hosts the TCPStore unless `agent_store`, torchrun's own store
// at that address) and a Gloo process group over it. Returns null and sets *err on failure.
sg_c10d_group* sg_c10d_new_gloo(
    const char* host,
    int port,
    int rank,
    int world,
    int agent_store,
    int64_t timeout_ms,
    char** err) {
  Group* g = nullptr;
  int rc = guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = rank == 0 && agent_store == 0;
    opts.numWorkers = agent_store == 0 ? std::optional<std::size_t>(world) : std::nullopt;
    opts.waitWorkers = agent_store == 0;
    opts.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(host, opts);
    auto store = c10::make_intrusive<c10d::PrefixStore>("synthgen/0", tcp);
    auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
    auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    g = new Group{store, backend, timeout, rank, world};
  });
  return rc == 0 ? reinterpret_cast<sg_c10d_group*>(g) : nullptr;
}

void sg_c10d_free(sg_c10d_group* group) {
  delete reinterpret_cast<Group*>(group);
}

// The mean over ranks of each tensor, in place: tensors flattened into buckets of at most
// `bucket_bytes`, each divided by the world size and summed by one all-reduce (DDP's order).
int sg_c10d_allreduce_mean(
    sg_c10d_group* group,
    at::Tensor* const* tensors,
    size_t n,
    int64_t bucket_bytes,
    char** err) {
  auto& g = *reinterpret_cast<Group*>(group);
  return guarded(err, [&] {
    for (auto& bucket : buckets(tensors, n, bucket_bytes)) {
      std::vector<at::Tensor> flat{flatten(bucket)};
      flat[0].div_(g.world);
      c10d::AllreduceOptions opts;
      opts.reduceOp = c10d::ReduceOp::SUM;
      opts.timeout = g.timeout;
      wait(g, g.backend->allreduce(flat, opts));
      unflatten(flat[0], bucket);
    }
  });
}

// Every rank's tensors become `root`'s, in place (bucketed as above).
int sg_c10d_broadcast(
    sg_c10d_group* group,
    at::Tensor* const* tensors,
    size_t n,
    int root,
    int64_t bucket_bytes,
    char** err) {
  auto& g = *reinterpret_cast<Group*>(group);
  return guarded(err, [&] {
    for (auto& bucket : buckets(tensors, n, bucket_bytes)) {
      std::vector<at::Tensor> flat{flatten(bucket)};
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      opts.timeout = g.timeout;
      wait(g, g.backend->broadcast(flat, opts));
      unflatten(flat[0], bucket);
    }
  });
}

int sg_c10d_barrier(sg_c10d_group* group, char** err) {
  auto& g = *reinterpret_cast<Group*>(group);
  return guarded(err, [&] {
    c10d::BarrierOptions opts;
    opts.timeout = g.timeout;
    wait(g, g.backend->barrier(opts));
  });
}

// Every rank's `input` (same shape and dtype on every rank) concatenated along dim 0 in rank
// order, as a new tensor in *out (owned by the caller, as tch's tensors).
int sg_c10d_allgather(
    sg_c10d_group* group,
    const at::Tensor* input,
    at::Tensor** out,
    char** err) {
  auto& g = *reinterpret_cast<Group*>(group);
  return guarded(err, [&] {
    std::vector<at::Tensor> in{input->contiguous()};
    std::vector<std::vector<at::Tensor>> outs(1);
    for (int r = 0; r < g.world; ++r) {
      outs[0].push_back(at::empty_like(in[0]));
    }
    c10d::AllgatherOptions opts;
    opts.timeout = g.timeout;
    wait(g, g.backend->allgather(outs, in, opts));
    *out = new at::Tensor(at::cat(outs[0], 0));
  });
}

} // extern "C"
