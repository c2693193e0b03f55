"""No Adaptation: CE on the source batch, SGD groups features (lr x mult) and fc."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import da_common as c


def run(folder, w, b, ctx):
    features = c.Backbone(ctx["arch"])
    net = nn.ModuleDict({"features": features, "fc": nn.Linear(features.dim, ctx["num_classes"])})
    names = {k: "features." + v for k, v in features.names.items()}
    names.update(c.linear_names("head", "fc"))
    c.assign(net, names, w)
    net.train()
    lr = ctx["lr"]
    opt = torch.optim.SGD(
        [{"params": features.parameters(), "lr": lr * ctx["backbone_lr_mult"]},
         {"params": net["fc"].parameters()}],
        lr=lr, momentum=ctx["momentum"], weight_decay=ctx["weight_decay"],
    )
    ce = F.cross_entropy(net["fc"](features(b["xs"])), b["ys"].long())
    opt.zero_grad()
    ce.backward()
    opt.step()
    c.write(folder, net, names, {"ce_source": ce})


if __name__ == "__main__":
    c.main(run)
