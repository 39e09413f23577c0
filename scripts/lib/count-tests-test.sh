#!/usr/bin/env bash
# Tests scripts/lib/count-tests.awk on recorded logs. Prints one line per
# case and `# pass N` / `# fail N`, which the count itself reads.
set -uo pipefail
cd "$(dirname "$0")"
pass=0 fail=0

# expect NAME WANTED_EXIT WANTED_OUTPUT, with the log on stdin.
expect() {
    local got code
    got=$(awk -f count-tests.awk)
    code=$?
    if [ "$got" = "$3" ] && [ "$code" -eq "$2" ]; then
        echo "ok - $1"
        pass=$((pass + 1))
    else
        printf 'not ok - %s\n  wanted (exit %s):\n%s\n  got (exit %s):\n%s\n' "$1" "$2" "$3" "$code" "$got"
        fail=$((fail + 1))
    fi
}

expect "every binary answered: the sum of their results" 0 "tests: 3 passed, 0 failed" <<'LOG'
     Running unittests src/lib.rs (target/debug/deps/nff-682c7c66d8d3d6c3)
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
   Doc-tests nff
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
LOG

expect "a binary that crashed before its result is named and counted" 1 \
"tests: tests/crash.rs (target/debug/deps/crash-455e32a1e69ca757) gave no test result: it crashed or was killed
tests: 2 passed, 1 failed" <<'LOG'
     Running unittests src/lib.rs (target/debug/deps/nff-682c7c66d8d3d6c3)
running 1 test
test tests::it_works ... ok
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
     Running tests/crash.rs (target/debug/deps/crash-455e32a1e69ca757)
running 1 test
error: test failed, to rerun pass `--test crash`
Caused by:
  process didn't exit successfully: `/tmp/nff/target/debug/deps/crash-455e32a1e69ca757` (signal: 6, SIGABRT: process abort signal)
     Running tests/good.rs (target/debug/deps/good-1bbbced2a8c25745)
running 1 test
test ok ... ok
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
error: 1 target failed:
    `--test crash`
LOG

expect "the last binary crashing is caught too" 1 \
"tests: Doc-tests nff gave no test result: it crashed or was killed
tests: 1 passed, 1 failed" <<'LOG'
     Running unittests src/lib.rs (target/debug/deps/nff-682c7c66d8d3d6c3)
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
   Doc-tests nff
running 3 tests
LOG

expect "a crash is not hidden by the Python and JavaScript results that follow" 1 \
"tests: tests/crash.rs (target/debug/deps/crash-455e32a1e69ca757) gave no test result: it crashed or was killed
tests: 7 passed, 1 failed" <<'LOG'
     Running tests/crash.rs (target/debug/deps/crash-455e32a1e69ca757)
running 1 test
Ran 4 tests in 0.002s
OK
# pass 3
# fail 0
LOG

expect "a target that did not build is named and counted" 1 \
"tests: did not build: could not compile \`nff\` (test \"bad\") due to 1 previous error
tests: 0 passed, 1 failed" <<'LOG'
   Compiling nff v0.1.0 (/tmp/nff)
error[E0308]: mismatched types
error: could not compile `nff` (test "bad") due to 1 previous error
warning: build failed, waiting for other jobs to finish...
LOG

expect "failed tests and unittest failures and errors add up" 1 "tests: 5 passed, 4 failed" <<'LOG'
     Running tests/ec2.rs (target/debug/deps/ec2-0000)
test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s
Ran 4 tests in 0.010s
FAILED (failures=1, errors=1)
# pass 0
# fail 1
LOG

echo "# pass $pass"
echo "# fail $fail"
[ "$fail" -eq 0 ]
