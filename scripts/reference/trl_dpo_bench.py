#!/usr/bin/env python3
"""TRL DPOTrainer + PEFT LoRA training throughput on the same pairs and settings as navab-rs's
`dpo_bench` example: one JSON line with the same fields.

    cargo run --release --example dpo_bench -- --data DIR --dump-pairs /tmp/pairs.jsonl
    OMP_NUM_THREADS=2 $PY scripts/reference/trl_dpo_bench.py --model models/smollm2-dense \
        --pairs /tmp/pairs.jsonl --threads 2

The model is an f32 HF-layout directory (`hf_logprobs.py --save-dense DIR` writes SmolLM2's from
the GGUF). Settings mirror dpo_bench's defaults: LoRA r=8, alpha=16, q/k/v/o, no dropout, batch 4,
no gradient accumulation, one epoch, learning rate 5e-5 constant, beta 0.1, sigmoid loss, clip 1.0.
Policy tokens are counted on the sequences TRL builds (prompt + completion, both sides, no
padding). `--gradient-checkpointing` turns on TRL's default activation recomputation.
"""
import argparse
import json
import os
import resource
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--model", required=True, help="f32 HF-layout model directory")
    p.add_argument("--pairs", required=True, help='JSONL of {"prompt", "chosen", "rejected"} (dpo_bench --dump-pairs)')
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--gradient-checkpointing", action="store_true")
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = [json.loads(l) for l in open(a.pairs, encoding="utf-8") if l.strip()]
    dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    tok = AutoTokenizer.from_pretrained(a.model)
    load_start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    load_seconds = time.perf_counter() - load_start
    config = DPOConfig(
        output_dir=os.path.join("/tmp", "trl-dpo-bench"),
        per_device_train_batch_size=a.batch_size,
        gradient_accumulation_steps=1,
        num_train_epochs=a.epochs,
        learning_rate=a.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=1.0,
        beta=0.1,
        loss_type=["sigmoid"],
        gradient_checkpointing=a.gradient_checkpointing,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        # f32 as navab-train: TRL's own default (bf16=True) would autocast every forward to bf16.
        bf16=False,
        seed=42,
        dataloader_num_workers=0,
    )
    peft_config = LoraConfig(r=a.rank, lora_alpha=2 * a.rank, lora_dropout=0.0,
                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    trainer = DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tok,
                         peft_config=peft_config)
    ds = trainer.train_dataset
    cols = ds.column_names
    if "prompt_ids" in cols:
        tokens = sum(2 * len(r["prompt_ids"]) + len(r["chosen_ids"]) + len(r["rejected_ids"]) for r in ds)
    else:
        tokens = sum(2 * len(r["prompt_input_ids"]) + len(r["chosen_input_ids"]) + len(r["rejected_input_ids"]) for r in ds)
    tokens *= a.epochs
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(json.dumps({
        "tool": f"trl {__import__('trl').__version__} + peft {__import__('peft').__version__}",
        "pairs": len(rows),
        "steps": trainer.state.global_step,
        "policy_tokens": tokens,
        "seconds": seconds,
        "policy_tokens_per_s": tokens / seconds,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "load_seconds": load_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": a.threads,
        "gradient_checkpointing": a.gradient_checkpointing,
    }))


if __name__ == "__main__":
    sys.exit(main())
