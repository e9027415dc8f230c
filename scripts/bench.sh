#!/usr/bin/env bash
# `make bench`: the attention experiments (scaling, rank trade-offs, decode, associative recall) and the PEFT
# experiments (LoRA merged/unmerged/base, adapters) and the vision layers (upsampling, transposed and sub-pixel
# convolution), each with its PyTorch peer, then their plots.
# The peers set their own fair environment (bench/peers/peerlib.py re-executes each one before torch loads): glibc's
# huge-page malloc (GLIBC_TUNABLES=glibc.malloc.hugetlb=1: torch allocates its outputs per call, and a fresh 4 KiB
# page, ~6 us on these VMs, would be measured as the peer's time), ATEN_CPU_CAPABILITY=avx512, OpenBLAS's own kernel
# (OPENBLAS_CORETYPE removed for the peer only) and the thread variables = --threads; each row's message records them.
# Incremental: each sweep runs with --resume, so a rerun measures only what is missing or changed.
# The timing experiments run 3 interleaved rounds (`rounds = 3` in their .ini: all points, then all again) and their
# headline is 1 thread (the 2 vCPUs are not always two cores' worth): the plots take threads=1, the peers --threads 1.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p results plots
for exp in attention_scaling attention_rank attention_decode attention_recall peft_lora peft_lora_rank peft_adapter vision_upsample vision_conv; do
  echo "== $exp"
  ./mechbench sweep "experiments/$exp.ini" --resume
done

echo "== PyTorch peer (same points, 1 thread) -> results/attention_scaling.h5"
/usr/bin/python3 bench/peers/torch_attention.py results/attention_scaling.h5 --threads 1 --max-n 8192

echo "== PyTorch peer for LoRA and adapters (1 thread) -> results/peft_lora.h5, results/peft_adapter.h5"
for exp in peft_lora peft_adapter; do
  /usr/bin/python3 bench/peers/torch_peft.py "results/$exp.h5" --threads 1
done
/usr/bin/python3 scripts/peft_ratios.py results/peft_lora.h5 results/peft_adapter.h5

echo "== PyTorch peers for the vision layers (1 thread) -> results/vision_upsample.h5, results/vision_conv.h5"
/usr/bin/python3 bench/peers/torch_vision.py results/vision_upsample.h5 --threads 1
/usr/bin/python3 bench/peers/torch_vision_conv.py results/vision_conv.h5 --threads 1
echo "== interleaved ratios at (2, 3, 512, 512) x2 (torch time / mechbench time)"
/usr/bin/python3 bench/peers/torch_vision.py results/vision_upsample.h5 --threads 1 --interleave 5

echo "== plots"
./mechbench plot results/attention_scaling.h5 --where threads=1 --where causal=0 --out plots/attention_scaling_causal0 \
  --crossover attention.softmax.flash,attention.linear.elu
./mechbench plot results/attention_scaling.h5 --where threads=1 --where causal=1 --out plots/attention_scaling_causal1 \
  --crossover attention.softmax.flash,attention.linear.elu_chunked
./mechbench plot results/attention_scaling.h5 --where threads=1 --where causal=0 --y time \
  --kernels attention.softmax.flash,attention.softmax.naive,attention.linear.elu,peer.torch.* \
  --out plots/attention_scaling_vs_torch
./mechbench plot results/attention_rank.h5 --where threads=1 --x rank --y pareto,error,time --out plots/attention_rank
./mechbench plot results/attention_decode.h5 --where threads=1 --out plots/attention_decode
./mechbench plot results/attention_decode.h5 --scaling --out plots/attention_decode   # 2 threads: secondary
./mechbench plot results/attention_recall.h5 --y task,time --out plots/attention_recall
./mechbench plot results/peft_lora.h5 --y time,gflops --out plots/peft_lora
./mechbench plot results/peft_lora_rank.h5 --x rank --y time --out plots/peft_lora_rank
./mechbench plot results/peft_adapter.h5 --where batch=1 --y time --out plots/peft_adapter_batch1
./mechbench plot results/peft_adapter.h5 --where batch=8 --y time --out plots/peft_adapter_batch8
./mechbench plot results/vision_upsample.h5 --x height --y time --where width=512 --where scale=2 \
  --kernels 'vision.pixel_*,vision.upsample.bi*,vision.upsample.nearest*' --out plots/vision_upsample_height
./mechbench plot results/vision_upsample.h5 --x scale --y time --where height=256 --out plots/vision_upsample_scale
./mechbench plot results/vision_conv.h5 --x height --y time --out plots/vision_conv_height
echo "== receptive fields: the effective receptive field (Luo et al. 2016) and checkerboard overlap heat maps"
./mechbench rf --erf --out plots/vision_erf
./mechbench rf --checkerboard --out plots/vision_checkerboard
