# Output helpers the buildpacks share (POSIX sh; sourced, not run).

# Runs "$@" with its output (stdout and stderr) indented under the step as it comes, and returns
# its exit status. sh has no pipefail: the status travels back on fd 4 instead of through a file.
indented() {
  exec 3>&1
  indented_status=$( { { if "$@" 2>&1; then echo 0 >&4; else echo $? >&4; fi; } | sed -u 's/^/       /' >&3; } 4>&1 )
  exec 3>&-
  return "$indented_status"
}
