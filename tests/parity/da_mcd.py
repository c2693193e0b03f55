"""MCD as released (domain_adaptation/MCD, --setting mcd_their_entropy, --num_k 4): generator
G = backbone (SGD without momentum, lr x mult), classifiers F1, F2 = Dropout -> Linear(d, 1000)
-> BN -> ReLU -> Dropout -> Linear(1000, 1000) -> BN -> ReLU -> Linear(1000, K) (SGD with
momentum). Steps A, B (with 0.01 class balance) and 4 generator steps C. Dropout p is 0 here
(the parity test's fixed configuration; released: 0.5)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import da_common as c


def classifier(d, k, p):
    return nn.Sequential(
        nn.Dropout(p), nn.Linear(d, 1000), nn.BatchNorm1d(1000), nn.ReLU(inplace=True),
        nn.Dropout(p), nn.Linear(1000, 1000), nn.BatchNorm1d(1000), nn.ReLU(inplace=True),
        nn.Linear(1000, k),
    )


def run(folder, w, b, ctx):
    k = ctx["num_classes"]
    G = c.Backbone(ctx["arch"])
    net = nn.ModuleDict({"G": G, "F1": classifier(G.dim, k, 0.0), "F2": classifier(G.dim, k, 0.0)})
    names = {kk: "G." + v for kk, v in G.names.items()}
    for rust, py in (("head", "F1"), ("head2", "F2")):
        names.update(c.linear_names(rust + ".fc1", py + ".1"))
        names.update(c.bn_names(rust + ".bn1", py + ".2"))
        names.update(c.linear_names(rust + ".fc2", py + ".5"))
        names.update(c.bn_names(rust + ".bn2", py + ".6"))
        names.update(c.linear_names(rust + ".fc3", py + ".8"))
    c.assign(net, names, w)
    net.train()
    lr = ctx["lr"]
    opt_g = torch.optim.SGD([{"params": G.parameters(), "lr": lr * ctx["backbone_lr_mult"]}],
                            lr=lr, weight_decay=ctx["weight_decay"])
    opt_f = torch.optim.SGD([{"params": net["F1"].parameters()}, {"params": net["F2"].parameters()}],
                            lr=lr, momentum=ctx["momentum"], weight_decay=ctx["weight_decay"])
    xs, ys, xt = b["xs"], b["ys"].long(), b["xt"]
    F1, F2 = net["F1"], net["F2"]

    def forward():
        fs = G(xs)
        s1, s2 = F1(fs), F2(fs)
        ft = G(xt)
        t1, t2 = F1(ft), F2(ft)
        p1, p2 = F.softmax(t1, dim=1), F.softmax(t2, dim=1)
        ce = F.cross_entropy(s1, ys) + F.cross_entropy(s2, ys)
        bal = c.class_balance(p1) + c.class_balance(p2)
        return ce, bal, torch.mean(torch.abs(p1 - p2))

    ce_a, bal_a, _ = forward()
    loss_a = ce_a + 0.01 * bal_a
    opt_g.zero_grad(); opt_f.zero_grad()
    loss_a.backward()
    opt_g.step(); opt_f.step()

    opt_g.zero_grad(); opt_f.zero_grad()
    ce_b, bal_b, dis_b = forward()
    loss_b = ce_b - 1.0 * dis_b + 0.01 * bal_b
    loss_b.backward()
    opt_f.step()

    seen = []
    for _ in range(4):
        opt_g.zero_grad(); opt_f.zero_grad()
        ft = G(xt)
        g_loss = torch.mean(torch.abs(F.softmax(F1(ft), dim=1) - F.softmax(F2(ft), dim=1)))
        g_loss.backward()
        opt_g.step()
        seen.append(g_loss.detach().clone())
    c.write(folder, net, names, {
        "ce_source": ce_a, "class_balance": bal_a, "loss_classifiers": loss_b,
        "discrepancy_classifiers": dis_b, "discrepancy_generator_1": seen[0],
        "discrepancy_generator_2": seen[1], "discrepancy_generator_3": seen[2],
        "discrepancy_generator": g_loss})


if __name__ == "__main__":
    c.main(run)
