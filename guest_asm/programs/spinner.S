// spinner -- spin forever; never configures, never reports.
_start:
    b _start
