"""DisClusterDA as released (domain_adaptation/DisClusterDA, no fc2, no consistency term):
separate passes, moving-average centroids (remain 0.7), temperature 2, the six clustering
terms, adaptive-filtering entropy, 0.01 class balance, lambda; SGD groups features (lr x mult)
and fc. The centroids start from the Rust side's (zeros at the first step)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import da_common as c

EPS, REMAIN, T = 1e-6, 0.7, 2.0


def afem(prob):
    temp = torch.zeros(prob.size())
    temp[prob.data == 0] = EPS
    neg = (prob * (prob + temp).log()).sum(1)
    return -(neg * neg.exp()).mean()


def run(folder, w, b, ctx):
    k = ctx["num_classes"]
    features = c.Backbone(ctx["arch"])
    net = nn.ModuleDict({"features": features, "fc": nn.Linear(features.dim, k)})
    names = {kk: "features." + v for kk, v in features.names.items()}
    names.update(c.linear_names("head", "fc"))
    c.assign(net, names, w)
    net.train()
    lr, lam = ctx["lr"], ctx["lambda"]
    opt = torch.optim.SGD(
        [{"params": features.parameters(), "lr": lr * ctx["backbone_lr_mult"]},
         {"params": net["fc"].parameters()}],
        lr=lr, momentum=ctx["momentum"], weight_decay=ctx["weight_decay"],
    )
    xs, ys, xt = b["xs"], b["ys"].long(), b["xt"]
    fc = net["fc"]
    feat_s = features(xs); pred_s = fc(feat_s)
    feat_t = features(xt); pred_t = fc(feat_t)
    prob_t = F.softmax(pred_t - pred_t.max(1, True)[0], dim=1)
    idx = prob_t.topk(1, 1, True, True)[-1]
    cs, ct = torch.zeros(k, features.dim), torch.zeros(k, features.dim)
    cs_t, ct_t = torch.zeros(k, features.dim), torch.zeros(k, features.dim)
    cs_n, ct_n = torch.zeros(k, 1), torch.zeros(k, 1)
    for i in range(xs.size(0)):
        cs_t[ys[i]] += feat_s[i]; cs_n[ys[i]] += 1
        ct_t[idx[i]] += feat_t[i]; ct_n[idx[i]] += 1
    mask_s = ((cs != 0).sum(1, keepdim=True) != 0).to(torch.get_default_dtype()) * REMAIN
    mask_t = ((ct != 0).sum(1, keepdim=True) != 0).to(torch.get_default_dtype()) * REMAIN
    mask_s[cs_n == 0] = 1.0; mask_t[ct_n == 0] = 1.0
    cs_n[cs_n == 0] = EPS; ct_n[ct_n == 0] = EPS
    cs = mask_s * cs + (1 - mask_s) * (cs_t / cs_n)
    ct = mask_t * ct + (1 - mask_t) * (ct_t / ct_n)
    ar = torch.arange(0, k)
    d = lambda a, bb: (a.unsqueeze(1) - bb.unsqueeze(0)).pow(2).sum(2)
    cen_cls = F.cross_entropy(fc(cs) / T, ar) + F.cross_entropy(fc(ct) / T, ar)
    src_cen = F.cross_entropy(F.softmax(-d(feat_s, cs), dim=1), ys)
    tgt_cen = afem(F.softmax(-d(feat_t, ct), dim=1))
    sep = F.cross_entropy(-d(cs, cs) / T, ar) + F.cross_entropy(-d(ct, ct) / T, ar)
    ce = F.cross_entropy(pred_s, ys)
    ent = afem(prob_t)
    bal = -torch.mean(torch.log(torch.mean(prob_t, 0) + EPS))
    loss = ce + lam * ent + lam * (cen_cls + src_cen + sep + tgt_cen) + 0.01 * bal
    net.zero_grad()
    loss.backward()
    opt.step()
    c.write(folder, net, names, {
        "ce_source": ce, "afem_target": ent, "centroid_classification": cen_cls,
        "source_to_centroid": src_cen, "afem_target_centroid": tgt_cen,
        "centroid_separation": sep, "class_balance": bal})


if __name__ == "__main__":
    c.main(run)
