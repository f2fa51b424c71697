//! Reference workload R1 (in progress).
