# The closing count of scripts/test, from the log of every test it ran:
# cargo's `test result:` lines, unittest's `Ran N tests` + `OK` or
# `FAILED (failures=N, errors=M)`, and node's `# pass N` / `# fail N`.
#
# A test binary that cargo started (`Running ...`, `Doc-tests ...`) but that
# printed no `test result:` line crashed or was killed: it counts as one
# failure, named on its own line. So does a target cargo could not compile.
# Ends with `tests: N passed, M failed` (CI reads it); exits 1 when M > 0.

function close_binary() {
    if (binary != "" && !answered) {
        printf "tests: %s gave no test result: it crashed or was killed\n", binary
        f += 1
    }
    binary = ""
}

/^ +(Running|Doc-tests) / { close_binary(); binary = $0; sub(/^ +(Running )?/, "", binary); answered = 0 }
/^test result:/ {
    answered = 1
    for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
}
/^error: could not compile / { close_binary(); printf "tests: did not build: %s\n", substr($0, 8); f += 1 }
/^Ran [0-9]+ tests? in/ { close_binary(); ran = $2 }
/^OK/ { p += ran }
/^FAILED \(/ { n = 0; while (match($0, /(failures|errors)=[0-9]+/)) { split(substr($0, RSTART, RLENGTH), kv, "="); n += kv[2]; $0 = substr($0, RSTART + RLENGTH) } f += n; p += ran - n }
/^# pass [0-9]+$/ { close_binary(); p += $3 }
/^# fail [0-9]+$/ { close_binary(); f += $3 }
END {
    close_binary()
    printf "tests: %d passed, %d failed\n", p, f
    exit (f > 0)
}
