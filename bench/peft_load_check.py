"""Do prompt-tuning adapters exported by `spot library export --format peft` load in PEFT?

For each adapter folder, loads the fixture checkpoint with transformers, wraps it with
`PeftModel.from_pretrained(model, adapter)`, and computes the loss of the fixture batch; it must
equal the reference loss that transformers/PEFT computed for the fixture prompt.

    python bench/peft_load_check.py <fixtures-dir> <adapter-dir> [<adapter-dir> ...]

An adapter folder named `<fixture>-<anything>` is checked against fixture `<fixture>`.
"""
import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import T5ForConditionalGeneration

fixtures, adapters = sys.argv[1], sys.argv[2:]
ok = True
for adapter in adapters:
    name = os.path.basename(adapter.rstrip("/"))
    fixture = name.rsplit("-", 1)[0]
    ref = load_file(os.path.join(fixtures, fixture, "reference.safetensors"))
    want = json.load(open(os.path.join(fixtures, fixture, "reference.json")))["loss"]
    base = T5ForConditionalGeneration.from_pretrained(os.path.join(fixtures, fixture, "model"))
    try:
        model = PeftModel.from_pretrained(base, adapter).eval()
        with torch.no_grad():
            loss = model(
                input_ids=ref["input_ids"], attention_mask=ref["attention_mask"], labels=ref["labels"]
            ).loss.item()
        rel = abs(loss - want) / abs(want)
        row = {"adapter": name, "loaded": True, "loss": loss, "reference_loss": want, "rel_err": rel, "pass": rel < 1e-5}
    except Exception as e:  # a load failure is the finding, not a crash of the check
        row = {"adapter": name, "loaded": False, "error": repr(e)[:300], "pass": False}
    ok = ok and row["pass"]
    print(json.dumps(row))
sys.exit(0 if ok else 1)
