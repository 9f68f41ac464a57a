# shellcheck shell=bash
# The per-engine lab flow (plan -> hosts -> program output applied -> checks).
lab_engine() { die "engine flow not written yet"; }
