"""DANN as released (domain_adaptation/DANN): separate source / target passes, one linear
domain classifier behind a gradient-reversal layer of weight lambda, loss = CE(source labels)
+ CE(source domain 0) + CE(target domain 1); SGD groups: features at lr x mult, fc, domain_fc."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import da_common as c


class Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


class Net(torch.nn.Module):
    def __init__(self, arch, k):
        super().__init__()
        self.features = c.Backbone(arch)
        self.fc = nn.Linear(self.features.dim, k)
        self.domain_fc = nn.Linear(self.features.dim, 2)

    def forward(self, x, lam):
        f = self.features(x)
        return self.fc(f), self.domain_fc(Reverse.apply(f, lam))


def run(folder, w, b, ctx):
    net = Net(ctx["arch"], ctx["num_classes"])
    names = {k: "features." + v for k, v in net.features.names.items()}
    names.update(c.linear_names("head.linear", "fc") if "head.linear.weight" in w else c.linear_names("head", "fc"))
    names.update(c.linear_names("domain_fc", "domain_fc"))
    c.assign(net, names, w)
    net.train()
    lr, lam = ctx["lr"], ctx["lambda"]
    opt = torch.optim.SGD(
        [
            {"params": net.features.parameters(), "lr": lr * ctx["backbone_lr_mult"]},
            {"params": net.fc.parameters()},
            {"params": net.domain_fc.parameters()},
        ],
        lr=lr, momentum=ctx["momentum"], weight_decay=ctx["weight_decay"],
    )
    xs, ys, xt = b["xs"], b["ys"].long(), b["xt"]
    out_s, dom_s = net(xs, lam)
    ce = F.cross_entropy(out_s, ys)
    _, dom_t = net(xt, lam)
    dom = F.cross_entropy(dom_s, torch.zeros_like(ys)) + F.cross_entropy(
        dom_t, torch.ones(xt.size(0), dtype=torch.long)
    )
    loss = ce + dom
    opt.zero_grad()
    loss.backward()
    opt.step()
    c.write(folder, net, names, {"ce_source": ce, "domain": dom})


if __name__ == "__main__":
    c.main(run)
