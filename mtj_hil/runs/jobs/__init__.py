"""Jobs: create or resume a run file and run one measurement kind into it."""
