#!/usr/bin/env bash
# `make bench`: the attention experiments (scaling, rank trade-offs, decode, associative recall) with the PyTorch
# peer, then their plots.
# Incremental: each sweep runs with --resume, so a rerun measures only what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p results plots
for exp in attention_scaling attention_rank attention_decode attention_recall; do
  echo "== $exp"
  ./mechbench sweep "experiments/$exp.ini" --resume
done

echo "== PyTorch peer (same points, same threads) -> results/attention_scaling.h5"
for threads in 2; do
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads MKL_NUM_THREADS=$threads \
    /usr/bin/python3 bench/peers/torch_attention.py results/attention_scaling.h5 --threads "$threads" --max-n 8192
done

echo "== plots"
./mechbench plot results/attention_scaling.h5 --where causal=0 --out plots/attention_scaling_causal0 \
  --crossover attention.softmax.flash,attention.linear.elu
./mechbench plot results/attention_scaling.h5 --where causal=1 --out plots/attention_scaling_causal1 \
  --crossover attention.softmax.flash,attention.linear.elu_chunked
./mechbench plot results/attention_scaling.h5 --where causal=0 --y time \
  --kernels attention.softmax.flash,attention.softmax.naive,attention.linear.elu,peer.torch.* \
  --out plots/attention_scaling_vs_torch
./mechbench plot results/attention_rank.h5 --x rank --y pareto,error,time --out plots/attention_rank
./mechbench plot results/attention_decode.h5 --out plots/attention_decode
./mechbench plot results/attention_recall.h5 --y task,time --out plots/attention_recall
