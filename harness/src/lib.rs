//! armsim-harness
