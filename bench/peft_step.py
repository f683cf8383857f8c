"""PEFT prompt-tuning step baseline, the PyTorch side of `spot bench step` on the same GPU.

A T5 v1.1-shaped model with random weights (no download), a 100-token soft prompt (PEFT
PromptTuningConfig), Adafactor on the prompt only; reports seconds per step and examples/s.

    python bench/peft_step.py --preset base --batch 32 --src 512 --prompt 100 --tgt 4 [--bf16] [--train]

`--train` keeps dropout on (model.train(), as in fine-tuning); without it the model runs in eval
mode, which is what `spot bench step` times (no dropout masks).
"""
import argparse
import json
import time

import torch
from peft import PromptTuningConfig, TaskType, get_peft_model
from transformers import T5Config, T5ForConditionalGeneration

try:
    from torch.optim import Adafactor as TorchAdafactor
except ImportError:  # PyTorch < 2.5
    TorchAdafactor = None

PRESETS = {
    "small": dict(d_model=512, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6, d_kv=64),
    "base": dict(d_model=768, d_ff=2048, num_layers=12, num_decoder_layers=12, num_heads=12, d_kv=64),
    "large": dict(d_model=1024, d_ff=2816, num_layers=24, num_decoder_layers=24, num_heads=16, d_kv=64),
}

p = argparse.ArgumentParser()
p.add_argument("--preset", default="base", choices=PRESETS)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--src", type=int, default=512)
p.add_argument("--prompt", type=int, default=100)
p.add_argument("--tgt", type=int, default=4)
p.add_argument("--iters", type=int, default=10)
p.add_argument("--bf16", action="store_true")
p.add_argument("--train", action="store_true")
a = p.parse_args()

torch.manual_seed(0)
cfg = T5Config(
    vocab_size=32128,
    feed_forward_proj="gated-gelu",
    tie_word_embeddings=False,
    dropout_rate=0.1,
    decoder_start_token_id=0,
    pad_token_id=0,
    eos_token_id=1,
    **PRESETS[a.preset],
)
model = T5ForConditionalGeneration(cfg).cuda()
model = get_peft_model(
    model, PromptTuningConfig(task_type=TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=a.prompt)
)
model.train(a.train)
params = [q for q in model.parameters() if q.requires_grad]
if TorchAdafactor is not None:
    opt = TorchAdafactor(params, lr=0.3)
else:
    from transformers.optimization import Adafactor

    opt = Adafactor(params, lr=0.3, relative_step=False, scale_parameter=False)
ids = torch.randint(3, cfg.vocab_size, (a.batch, a.src), device="cuda")
mask = torch.ones_like(ids)
labels = torch.randint(3, cfg.vocab_size, (a.batch, a.tgt), device="cuda")


def step():
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.bf16):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


for _ in range(3):
    step()
torch.cuda.synchronize()
t0 = time.perf_counter()
for _ in range(a.iters):
    step()
torch.cuda.synchronize()
s = (time.perf_counter() - t0) / a.iters
print(json.dumps({
    "impl": "peft", "preset": a.preset, "batch": a.batch, "src": a.src, "prompt": a.prompt, "tgt": a.tgt,
    "dtype": "bf16-autocast" if a.bf16 else "fp32", "dropout": a.train, "step_s": s, "examples_per_s": a.batch / s,
    "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
}))
