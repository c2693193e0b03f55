"""SRDC as released (domain_adaptation/SRDC, run.sh flags: --num_neurons 128 --cluster_iter 2;
src_cls, src_cen_first, learn_embed, embed_softmax on; beta 1, alpha 1; kmeans). One epoch
start (eval-mode passes, source / target centroids, K-means from the source centroids in
epoch 0 and from the target centroids later, centre reset, pseudo-labels) and one iteration.
Writes the pseudo-labels as `pseudo_labels` next to the weights."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import da_common as c

EPS = 1e-6


class Net(nn.Module):
    def __init__(self, arch, k, d2):
        super().__init__()
        self.features = c.Backbone(arch)
        d1 = self.features.dim
        self.fc1 = nn.Sequential(nn.Linear(d1, d2), nn.BatchNorm1d(d2), nn.ReLU(inplace=True))
        self.fc2 = nn.Linear(d2, k)

    def forward(self, x):
        x = self.features(x)
        y1 = self.fc1(x)
        return x, y1, self.fc2(y1)


def tar_loss(output, target, epoch):
    prob_p = F.softmax(output, dim=1)
    if epoch == 0:
        prob_q = torch.zeros_like(prob_p).scatter_(1, target.unsqueeze(1), 1.0)
    else:
        prob_q = prob_p / prob_p.sum(0, keepdim=True).pow(0.5)
        prob_q = prob_q / prob_q.sum(1, keepdim=True)
    return -(prob_q * F.log_softmax(output, dim=1)).sum(1).mean()


def src_loss(output, target):
    prob_q = torch.zeros_like(output).scatter_(1, target.unsqueeze(1), 1.0)
    return -(prob_q * F.log_softmax(output, dim=1)).sum(1).mean()


def kernel(f, cen):
    return (1 + (f.unsqueeze(1) - cen.unsqueeze(0)).pow(2).sum(2) / 1.0).pow(-(1.0 + 1) / 2)


def kmeans(f, c0, iters, k):
    c_tar = c0.clone()
    for _ in range(iters):
        dist = (f.unsqueeze(1) - c_tar.unsqueeze(0)).pow(2).sum(2)
        _, idx = (-1 * dist).topk(1, 1, True, True)
        c_tar.fill_(0)
        count = torch.zeros(k, 1)
        for j in range(k):
            c_tar[j] += f[idx.squeeze(1) == j].sum(0)
            count[j] += (idx.squeeze(1) == j).to(torch.get_default_dtype()).sum()
        c_tar /= count + EPS
    return c_tar, idx.squeeze(1)


def run(folder, w, b, ctx):
    k, epoch = ctx["num_classes"], ctx["epoch"]
    d2 = w["head.weight"].shape[1]
    net = Net(ctx["arch"], k, d2)
    names = {kk: "features." + v for kk, v in net.features.names.items()}
    names.update(c.linear_names("bottleneck.linear", "fc1.0"))
    names.update(c.bn_names("bottleneck.bn", "fc1.1"))
    names.update(c.linear_names("head", "fc2"))
    c.assign(net, names, w)
    cen1 = w["srdc.centres1"].clone().requires_grad_(True)
    cen2 = w["srdc.centres2"].clone().requires_grad_(True)
    lr, lr_fe = ctx["lr"], ctx["lr"] * ctx["backbone_lr_mult"]
    opt = torch.optim.SGD(
        [
            {"params": net.features.parameters(), "lr": lr_fe},
            {"params": net.fc1.parameters()},
            {"params": cen1, "lr": lr_fe},
            {"params": net.fc2.parameters()},
            {"params": cen2, "lr": lr_fe},
        ],
        lr=lr, momentum=ctx["momentum"], weight_decay=ctx["weight_decay"],
    )

    # Epoch start (validate_compute_cen + kmeans), eval mode.
    net.eval()
    with torch.no_grad():
        fs, fs2, _ = net(b["src_all"])
        ft, ft2, lt = net(b["tgt_all"])
        ys_all = b["src_all_labels"].long()
        one_s = torch.zeros(fs.size(0), k).scatter_(1, ys_all.unsqueeze(1), 1.0)
        count_s = one_s.sum(0).unsqueeze(1)
        cs = (fs.unsqueeze(1) * one_s.unsqueeze(2)).sum(0) / count_s
        cs2 = (fs2.unsqueeze(1) * one_s.unsqueeze(2)).sum(0) / count_s
        pred = lt.max(1)[1]
        one_t = torch.zeros(ft.size(0), k).scatter_(1, pred.unsqueeze(1), 1.0)
        count_t = one_t.sum(0).unsqueeze(1)
        ct = (ft.unsqueeze(1) * one_t.unsqueeze(2)).sum(0) / (count_t + EPS)
        ct2 = (ft2.unsqueeze(1) * one_t.unsqueeze(2)).sum(0) / (count_t + EPS)
        c1, pseudo = kmeans(ft, cs if epoch == 0 else ct, 2, k)
        c2, _ = kmeans(ft2, cs2 if epoch == 0 else ct2, 2, k)
        cen1.data = c1.data
        cen2.data = c2.data
    net.train()

    # One iteration (trainer.train).
    lam = ctx["lambda"]
    weight = lam if epoch else 1
    yt = pseudo[b["target_index"].long()]
    f_t, f_t_2, ca_t = net(b["xt"])
    t_out = tar_loss(ca_t, yt, epoch)
    t_k1 = tar_loss(kernel(f_t, cen1), yt, epoch)
    t_k2 = tar_loss(kernel(f_t_2, cen2), yt, epoch)
    ys = b["ys"].long()
    f_s, f_s_2, ca_s = net(b["xs"])
    ce = src_loss(ca_s, ys)
    s_k1 = src_loss(kernel(f_s, cen1), ys)
    s_k2 = src_loss(kernel(f_s_2, cen2), ys)
    loss = weight * (t_out + t_k1 + t_k2) + ce + weight * (s_k1 + s_k2)
    net.zero_grad()
    loss.backward()
    opt.step()
    names_c = dict(names)
    c.write(
        folder, net, names_c,
        {"ce_source": ce, "source_kernel1": s_k1, "source_kernel2": s_k2,
         "target_output": t_out, "target_kernel1": t_k1, "target_kernel2": t_k2},
        {"srdc.centres1": cen1.detach(), "srdc.centres2": cen2.detach(),
         "pseudo_labels": pseudo.long()},
    )


if __name__ == "__main__":
    c.main(run)
