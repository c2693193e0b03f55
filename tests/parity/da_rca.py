"""RCA as released (domain_adaptation/RCA, --em, no VAT): separate passes, fc (K) and fc_joint
(2K) heads; gradients routed by name: the `fc` parameters get L_min, the backbone L_max; one
SGD step (groups: features lr x mult, fc, fc_joint)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import da_common as c


class Net(nn.Module):
    def __init__(self, arch, k):
        super().__init__()
        self.features = c.Backbone(arch)
        self.fc = nn.Linear(self.features.dim, k)
        self.fc_joint = nn.Linear(self.features.dim, 2 * k)

    def forward(self, x):
        f = self.features(x)
        return self.fc(f), self.fc_joint(f)


def em(logits):
    return -(F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1).mean()


def run(folder, w, b, ctx):
    k = ctx["num_classes"]
    net = Net(ctx["arch"], k)
    names = {kk: "features." + v for kk, v in net.features.names.items()}
    names.update(c.linear_names("head", "fc"))
    names.update(c.linear_names("joint_fc", "fc_joint"))
    c.assign(net, names, w)
    net.train()
    lr, lam = ctx["lr"], ctx["lambda"]
    opt = torch.optim.SGD(
        [{"params": net.features.parameters(), "lr": lr * ctx["backbone_lr_mult"]},
         {"params": net.fc.parameters()}, {"params": net.fc_joint.parameters()}],
        lr=lr, momentum=ctx["momentum"], weight_decay=ctx["weight_decay"],
    )
    ys = b["ys"].long()
    s1, s2 = net(b["xs"])
    t1, t2 = net(b["xt"])
    yt = t1.max(1)[1]
    ce = F.cross_entropy(s1, ys)
    joint = F.cross_entropy(s2, ys) + F.cross_entropy(t2, yt + k)
    confusion = F.cross_entropy(s2, ys + k) + F.cross_entropy(t2, yt)
    bal = c.class_balance(F.softmax(t1, dim=-1))
    ent = em(t1)
    loss_min = ce + lam * joint + 0.1 * bal
    loss_max = ce + lam * confusion + lam * ent
    net.zero_grad()
    for n, p in net.named_parameters():
        if n.find("fc") == -1:
            p.requires_grad = False
    loss_min.backward(retain_graph=True)
    for n, p in net.named_parameters():
        p.requires_grad = n.find("fc") == -1
    loss_max.backward()
    opt.step()
    c.write(folder, net, names, {
        "ce_source": ce, "joint": joint, "class_balance": bal, "confusion": confusion,
        "entropy_target": ent, "loss_max": loss_max})


if __name__ == "__main__":
    c.main(run)
