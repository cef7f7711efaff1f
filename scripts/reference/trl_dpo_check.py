#!/usr/bin/env python3
"""Checks navab-train's DPO loss, rewards and LoRA gradients against TRL's DPOTrainer on the
same model, adapter and batch.

    cargo build --release --example dpo_check
    $PY scripts/reference/trl_dpo_check.py --hf-model models/smollm2-dense \
        --ours-model models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
        --adapter runs/align-hk/adapter --pairs /tmp/pairs.jsonl --n 4

`--new-adapter` first writes a PEFT LoRA to --adapter (r=8, alpha=16 on q/k/v/o, B != 0 drawn with
seed 0 and scaled by --b-scale), so the check needs no trained adapter.

TRL tokenizes the pairs (its own way: prompt + completion, EOS appended); those token ids go to
`target/release/examples/dpo_check`, which computes the same step with navab-train. TRL's loss
comes from `DPOTrainer.compute_loss` on one batch of all n pairs with the adapter trainable and
an explicit reference model: the base without adapters, navab-train's reference. Prints the largest
differences as one JSON line. `--ours-model` may be the GGUF (q/k rows permuted, adapters
un-permuted on save) or the same HF directory. Both sides run in f32: TRL's `DPOConfig` defaults
to bf16=True, which autocasts the reference model's forward to bf16 on CPU too (the policy only
once `train()` prepares it), so the check turns it off.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--hf-model", required=True, help="f32 HF-layout directory")
    p.add_argument("--ours-model", help="model for navab-train (default: --hf-model)")
    p.add_argument("--adapter", required=True, help="PEFT LoRA folder (with non-zero B, e.g. a trained one)")
    p.add_argument("--pairs", required=True, help='JSONL of {"prompt", "chosen", "rejected"}')
    p.add_argument("--n", type=int, default=4, help="pairs in the batch")
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--binary", default="target/release/examples/dpo_check")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--new-adapter", action="store_true", help="write a fresh PEFT adapter to --adapter first")
    p.add_argument("--b-scale", type=float, default=0.05, help="scale of the fresh adapter's B (with --new-adapter)")
    a = p.parse_args()

    import torch
    from datasets import Dataset
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(a.threads)
    rows = [json.loads(l) for l in open(a.pairs, encoding="utf-8") if l.strip()][: a.n]
    tok = AutoTokenizer.from_pretrained(a.hf_model)
    base = AutoModelForCausalLM.from_pretrained(a.hf_model, dtype=torch.float32, attn_implementation="eager")
    if a.new_adapter:
        write_adapter(a.hf_model, a.adapter, a.b_scale)
    model = PeftModel.from_pretrained(base, a.adapter, is_trainable=True)
    config = DPOConfig(output_dir=os.path.join(tempfile.gettempdir(), "trl-dpo-check"), per_device_train_batch_size=a.n,
                       beta=a.beta, loss_type=["sigmoid"], gradient_checkpointing=False, report_to="none",
                       use_cpu=True, save_strategy="no", bf16=False)
    dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    # The reference is the base model without adapters, as navab-train defines it (TRL would
    # otherwise take the loaded adapter's starting point as the reference).
    reference = AutoModelForCausalLM.from_pretrained(a.hf_model, dtype=torch.float32, attn_implementation="eager").eval()
    trainer = DPOTrainer(model=model, ref_model=reference, args=config, train_dataset=dataset, processing_class=tok)
    ds = trainer.train_dataset
    key = "prompt_ids" if "prompt_ids" in ds.column_names else "prompt_input_ids"
    suffix = "_ids" if key == "prompt_ids" else "_input_ids"
    examples = [ds[i] for i in range(len(ds))]

    with tempfile.TemporaryDirectory() as tmp:
        ids_path = os.path.join(tmp, "ids.jsonl")
        with open(ids_path, "w") as f:
            for e in examples:
                f.write(json.dumps({"prompt_ids": e[key], "chosen_ids": e["chosen" + suffix],
                                    "rejected_ids": e["rejected" + suffix]}) + "\n")
        subprocess.run([a.binary, "--model", a.ours_model or a.hf_model, "--adapter", a.adapter, "--ids", ids_path,
                        "--beta", str(a.beta), "--out", tmp], check=True, stdout=subprocess.DEVNULL)
        ours = json.load(open(os.path.join(tmp, "losses.json")))
        our_grads = load_file(os.path.join(tmp, "grads", "adapter_model.safetensors"))

    batch = trainer.data_collator(examples)
    model.train()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    metrics = {k: sum(v) / len(v) for k, v in trainer._metrics["train"].items() if v}
    # Each sequence's summed completion log-probability, under the adapter and under the
    # reference, as TRL computes them (batch rows: all chosen, then all rejected).
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    with torch.no_grad():
        kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
                      fused_lm_head=True, use_cache=False)
        policy = model(**kwargs).log_probs.sum(1).tolist()
        ref = trainer.ref_model(**kwargs).log_probs.sum(1).tolist()
    half = len(policy) // 2
    interleave = lambda v: [x for pair in zip(v[:half], v[half:]) for x in pair]  # noqa: E731
    logp_diff = max(abs(x - y) for x, y in zip(interleave(policy), ours["policy_logps"]))
    ref_diff = max(abs(x - y) for x, y in zip(interleave(ref), ours["reference_logps"]))
    worst_rel, worst_name = 0.0, None
    for name, param in model.named_parameters():
        if "lora_" not in name or param.grad is None:
            continue
        ours_name = name.replace(".default.weight", ".weight")
        g_ref = param.grad.double()
        g_ours = our_grads[ours_name].double()
        rel = ((g_ours - g_ref).abs().max() / g_ref.abs().max().clamp_min(1e-12)).item()
        if rel > worst_rel:
            worst_rel, worst_name = rel, ours_name
    n = len(ours["losses"])
    out = {
        "pairs": n,
        "loss_trl": loss.item(),
        "loss_ours": ours["loss"],
        "loss_abs_diff": abs(loss.item() - ours["loss"]),
        "chosen_reward_trl": metrics.get("rewards/chosen"),
        "chosen_reward_ours": sum(ours["chosen_rewards"]) / n,
        "rejected_reward_trl": metrics.get("rewards/rejected"),
        "rejected_reward_ours": sum(ours["rejected_rewards"]) / n,
        "policy_logp_max_abs_diff": logp_diff,
        "reference_logp_max_abs_diff": ref_diff,
        "grad_max_rel_diff": worst_rel,
        "grad_worst_tensor": worst_name,
        "tensors_compared": len(our_grads),
    }
    print(json.dumps(out))


def write_adapter(hf_model, out_dir, b_scale):
    """A PEFT LoRA with non-zero B (seeded), so that the policy differs from the reference."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(hf_model, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, init_lora_weights=False,
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(b_scale)
    model.save_pretrained(out_dir)


if __name__ == "__main__":
    sys.exit(main())
