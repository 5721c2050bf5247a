"""Run files (HDF5, flushed array by array) and the jobs that create or resume them."""
