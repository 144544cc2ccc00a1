# Output helpers the buildpacks share (POSIX sh; sourced, not run).

# The output of the last `indented` command, for explaining how it failed (see `said`).
INDENTED_LOG=/tmp/indented.log

# Runs "$@" with its output (stdout and stderr) indented under the step as it comes, and returns
# its exit status. sh has no pipefail: the status travels back on fd 4 instead of through a file.
indented() {
  exec 3>&1
  indented_status=$( { { if "$@" 2>&1; then echo 0 >&4; else echo $? >&4; fi; } | tee "$INDENTED_LOG" | sed -u 's/^/       /' >&3; } 4>&1 )
  exec 3>&-
  return "$indented_status"
}

# Whether the last `indented` command printed a line matching the basic regular expression $1.
said() {
  grep -q -- "$1" "$INDENTED_LOG" 2> /dev/null
}

# The common reasons an install from a package index fails that are not the app's code: prints
# the explanation and succeeds, or prints nothing and fails.
explain_network() {
  if said 'CERTIFICATE_VERIFY_FAILED\|SELF_SIGNED_CERT\|UNABLE_TO_GET_ISSUER_CERT\|unable to get local issuer certificate'; then
    echo " !     The build does not trust the package index's TLS certificate. Behind a TLS-inspecting"
    echo " !     proxy, put its CA in /usr/local/share/ca-certificates on the server and run"
    echo " !     \`paas-buildserver stack update-ca\`."
  elif said 'Failed to establish a new connection\|Temporary failure in name resolution\|ProxyError\|ENOTFOUND\|ECONNREFUSED\|ETIMEDOUT\|EAI_AGAIN\|Could not connect\|ConnectTimeout'; then
    echo " !     The build could not reach the package index. Check the server's network settings:"
    echo " !     a proxy (--build-env HTTPS_PROXY=http://proxy:3128) or a mirror (PIP_INDEX_URL,"
    echo " !     npm_config_registry) that the build can reach."
  else
    return 1
  fi
}

# `stack_versions FIELD WHAT`: which stack has which version of a runtime, from PAAS_STACKS
# (`NAME:PYTHON:NODE ...`, set by the server; FIELD 2 is Python's version, 3 Node.js's):
# "bookworm has Python 3.11.2, trixie has Python 3.13.5".
stack_versions() {
  stack_list=
  for stack_entry in ${PAAS_STACKS:-}; do
    stack_version=$(echo "$stack_entry" | cut -d: -f"$1")
    [ -n "$stack_version" ] && stack_list="${stack_list:+$stack_list, }${stack_entry%%:*} has $2 $stack_version"
  done
  echo "${stack_list:-no stack here has $2}"
}
