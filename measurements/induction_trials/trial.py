import sys, time, json, math, random, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
torch.set_num_threads(1)
from helpers import models, lm, pretrain as _p
from transformers import AutoTokenizer
import argparse
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--T", type=int, default=128)
p.add_argument("--B", type=int, default=16)
p.add_argument("--steps", type=int, default=1500)
p.add_argument("--pool", type=int, default=0)   # 0: full vocab
p.add_argument("--layers", type=int, default=4)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--wd", type=float, default=0.0)
p.add_argument("--warm", type=int, default=100)
p.add_argument("--maxL", type=int, default=40)
p.add_argument("--maxG", type=int, default=20)
p.add_argument("--name", default="e")
p.add_argument("--mix", type=int, default=0)
p.add_argument("--both", type=int, default=0)
p.add_argument("--cos", type=int, default=0)
p.add_argument("--widen", type=int, default=0)
p.add_argument("--topk", type=int, default=0)
p.add_argument("--single", type=int, default=0)
p.add_argument("--init", default="")
p.add_argument("--genfrac", type=float, default=0.0)
p.add_argument("--freq", type=float, default=0.0)
p.add_argument("--qkbias", type=float, default=0.0)
a = p.parse_args()
tok = AutoTokenizer.from_pretrained(str(__import__("pathlib").Path(__file__).resolve().parents[2] / "helpers/data/tiny_phi"))
V = len(tok)
s = _p.TinySettings(num_layers=a.layers, num_heads=a.heads)
model = _p.tiny_phi(tok, s)
if a.init:
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(a.init)
from helpers import pretrain
NOTES = pretrain.lm_corpus()['validation'][:16]
gen = torch.load("gen128.pt"); genval = torch.load("genval128.pt")[:32]
counts = torch.load("counts.pt"); counts[0] = 0
WEIGHTS = (counts ** a.freq) * (counts > 0) if a.freq else None
if a.qkbias:
    g = torch.Generator().manual_seed(1)
    for layer in model.model.layers:
        for m in (layer.self_attn.q_proj, layer.self_attn.k_proj):
            with torch.no_grad(): m.bias.copy_(torch.randn(m.bias.shape, generator=g) * a.qkbias)
ids = list(range(1, V)) if not a.pool else list(range(1, 1 + a.pool))
def row(rng):
    out = [0]
    weights = WEIGHTS if (not a.mix or rng.random() < 0.5) else None
    while len(out) < a.T:
        L = rng.randint(4, a.maxL); g = rng.randint(0, a.maxG)
        A = [rng.choice(ids) for _ in range(L)] if weights is None else torch.multinomial(weights, L, replacement=True, generator=tg).tolist()
        out += A + A[:0] + ([rng.choice(ids) for _ in range(g)] if weights is None else torch.multinomial(weights, g, replacement=True, generator=tg).tolist()) + A if g else A + A
    return out[:a.T]
def evalrep(model, n=32, L=12):
    rng = random.Random(12345)
    f, s2 = [], []
    with torch.no_grad():
        for _ in range(n):
            A = [rng.choice(ids) for _ in range(L)]
            seq = torch.tensor([[0] + A + A])
            lg = model(input_ids=seq).logits[0, :-1]
            nll = torch.nn.functional.cross_entropy(lg, seq[0, 1:], reduction="none")
            f.append(nll[1:L]); s2.append(nll[L + 1:2 * L])
    return torch.cat(f).mean().item(), torch.cat(s2).mean().item()
if a.topk:
    ids = torch.argsort(counts, descending=True)[:a.topk].tolist()
rng = random.Random(0)
tg = torch.Generator().manual_seed(0)
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.98), weight_decay=a.wd)
sched = torch.optim.lr_scheduler.LambdaLR(opt, (lambda st: lm.warmup_cosine(st, a.steps, a.warm)) if a.cos else (lambda st: min(1, (st + 1) / a.warm)))
log = []
t0 = time.time()
for step in range(1, a.steps + 1):
    model.train()
    if a.widen:
        ids = list(range(1, min(V, 1 + a.pool * 2 ** (step // a.widen))))
    if rng.random() < a.genfrac:
        batch = gen[torch.randint(len(gen), (16,), generator=tg)]
    else:
        if a.single:
            L = rng.randint(2, a.maxL)
            batch = torch.tensor([[0] + (A := [rng.choice(ids) for _ in range(L)]) + A for _ in range(a.B)])
        else:
            batch = torch.tensor([row(rng) for _ in range(a.B)])
    loss = model(input_ids=batch, labels=batch).loss
    if a.both:
        gb = gen[torch.randint(len(gen), (16,), generator=tg)]
        loss = loss + model(input_ids=gb, labels=gb).loss
    loss.backward(); torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); sched.step(); opt.zero_grad()
    if step % 50 == 0:
        model.eval()
        f, s2 = evalrep(model)
        pr = lm.copy_probe(model, tok)
        npr = lm.note_copy_probe(model, tok, NOTES)
        rec = dict(note_ratio=npr['second reading']/npr['first reading'], genval=lm.perplexity(model, genval), step=step, loss=loss.item(), rand_first=f, rand_second=s2, probe_first=pr["first reading"], probe_second=pr["second reading"], t=time.time() - t0)
        log.append(rec)
        print(json.dumps(rec), flush=True)
        json.dump(log, open(f"{a.name}.json", "w"))
model.save_pretrained(f"ck_{a.name}")
