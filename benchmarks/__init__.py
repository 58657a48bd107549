"""Speed, memory and quality benchmarks; each prints ratios against a
baseline measured in the same process (the machine is noisy)."""
