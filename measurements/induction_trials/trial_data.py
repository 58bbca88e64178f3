import sys, torch, collections; sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from helpers import pretrain as models
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(str(__import__("pathlib").Path(__file__).resolve().parents[2] / "helpers/data/tiny_phi"))
g = models.general_corpus()
ids = tok(g["train"], add_special_tokens=False)["input_ids"]
c = torch.zeros(len(tok))
for r in ids: c += torch.bincount(torch.tensor(r), minlength=len(tok)).float()
torch.save(c, "counts.pt"); print((c>0).sum(), c.sum())
from helpers.lm import pack_blocks
torch.save(pack_blocks(g["train"], tok, 128), "gen128.pt"); torch.save(pack_blocks(g["validation"], tok, 128), "genval128.pt")
