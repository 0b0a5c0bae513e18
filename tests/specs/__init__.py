"""Tests of the specs package (semantic spec, RKME table spec, kernels, simplex QP)."""
