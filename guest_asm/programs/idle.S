// idle -- never configures, never reports: just wfi.
_start:
    wfi
    b _start
