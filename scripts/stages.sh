# Stages of a long run, each bounded and timed, and a table of their times at the end, printed
# however the run ends (a stage failing, a bound reached, Ctrl-C or a CI cancel).
#   . scripts/stages.sh; stages_begin BUDGET_S; stage NAME BOUND_S CMD...; ...; stages_end
# A stage's bound is cut to what is left of the whole run's budget.
# shellcheck shell=bash

_STAGE_NAMES=() _STAGE_TIMES=() _STAGE_RESULTS=() _STAGE_NOTES=()
_STAGES_START=0 _STAGES_BUDGET=0 _STAGES_PRINTED=0
_STAGE_PID="" _STAGE_CURRENT="" _STAGE_CURRENT_START=0

stages_begin() {
    _STAGES_BUDGET="$1"
    _STAGES_START=$SECONDS
    trap '_stages_table' EXIT
    trap '_stages_signal INT 130' INT
    trap '_stages_signal TERM 143' TERM
}

# A human duration: 42.0 s, 3 min 07 s.
_stages_human() {
    local s="$1"
    if [ "$s" -lt 60 ]; then printf '%d s' "$s"; else printf '%d min %02d s' $((s / 60)) $((s % 60)); fi
}

stages_left() { echo $((_STAGES_BUDGET - (SECONDS - _STAGES_START))); }

# stage NAME BOUND_S CMD...: run CMD within min(BOUND_S, budget left); record its time and end.
# CMD runs in the background and is waited for, so a signal to this script is handled at once
# and passed on (timeout hands it to CMD, which cleans up), not after CMD ends by itself.
stage() {
    local name="$1" bound="$2"; shift 2
    local left rc
    left=$(stages_left)
    [ "$left" -lt "$bound" ] && bound="$left"
    step "$name"
    _STAGE_CURRENT="$name" _STAGE_CURRENT_START=$SECONDS
    if [ "$bound" -le 0 ]; then
        rc=124
    else
        timeout --kill-after=30 "$bound" "$@" &
        _STAGE_PID=$!
        wait "$_STAGE_PID"
        rc=$?
        _STAGE_PID=""
    fi
    case "$rc" in
        0) _stages_record "ok" ;;
        124|137) _stages_record "TIMED OUT after $(_stages_human "$bound")" ;;
        *) _stages_record "FAILED (exit $rc)" ;;
    esac
    return "$rc"
}

_stages_record() {
    _STAGE_NAMES+=("$_STAGE_CURRENT") _STAGE_TIMES+=($((SECONDS - _STAGE_CURRENT_START)))
    _STAGE_RESULTS+=("$1") _STAGE_NOTES+=("")
    _STAGE_CURRENT=""
}

# A line under the last stage (e.g. the time of each suite inside it).
stage_note() { _STAGE_NOTES[-1]+="$1"$'\n'; }

_stages_signal() {
    if [ -n "$_STAGE_PID" ]; then
        kill -"$1" "$_STAGE_PID" 2>/dev/null
        wait "$_STAGE_PID" 2>/dev/null  # bounded: timeout kills the stage 30 s after the signal
    fi
    [ -n "$_STAGE_CURRENT" ] && _stages_record "INTERRUPTED (SIG$1)"
    exit "$2"
}

_stages_table() {
    [ "$_STAGES_PRINTED" = 1 ] && return
    _STAGES_PRINTED=1
    local i total=$((SECONDS - _STAGES_START))
    printf '\n\033[1m==> stage times\033[0m\n' >&2
    printf '    %-56s %-28s %s\n' "stage" "result" "time" >&2
    for i in "${!_STAGE_NAMES[@]}"; do
        printf '    %-56s %-28s %s\n' "${_STAGE_NAMES[$i]}" "${_STAGE_RESULTS[$i]}" \
            "$(_stages_human "${_STAGE_TIMES[$i]}")" >&2
        [ -n "${_STAGE_NOTES[$i]}" ] && printf '%s' "${_STAGE_NOTES[$i]}" >&2
    done
    printf '    %-56s %-28s %s\n' "total" "(budget $(_stages_human "$_STAGES_BUDGET"))" \
        "$(_stages_human "$total")" >&2
}

stages_end() { _stages_table; }
