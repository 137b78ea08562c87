# Sourced by compact.sh and query.sh: runs one bench script per input shape, each in its own work
# folder, with its output also in "$log" for the summary; or runs it once, as asked, when the
# caller names an input (--layout or --shape).
# usage: per_shape SCRIPT WORKDIR_PREFIX "$@"; then bench NAME ARGS... for each shape
per_shape() {
    bench_script="$1"
    bench_prefix="$2"
    shift 2
    if [[ " $* " == *" --layout "* || " $* " == *" --shape "* ]]; then
        exec "$venv/bin/python" "$bench_script" "$@"
    fi
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
}

bench() {
    local name="$1"
    shift
    echo "== $name" | tee -a "$log"
    "$venv/bin/python" "$bench_script" --workdir "$bench_prefix-$name" "$@" | tee -a "$log"
}
