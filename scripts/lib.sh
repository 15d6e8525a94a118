# Shell functions shared by the scripts of this folder: source it, do not run it.

# install_missing NAME WARN|FAIL PACKAGE...: installs the Debian packages with apt-get
# when run as root. Otherwise it says they are missing, on behalf of script NAME, and
# then goes on (WARN: the tests that need them fail) or exits 1 (FAIL).
install_missing() {
	local name=$1 mode=$2
	shift 2
	[ $# -gt 0 ] || return 0
	if [ "$(id -u)" = 0 ]; then
		echo "$name: installing $*"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
	elif [ "$mode" = FAIL ]; then
		echo "$name: missing $* (not root: install them with apt-get; $name fails without them)" >&2
		exit 1
	else
		echo "$name: missing $* (not root: install them with apt-get, or the tests that need them fail)" >&2
	fi
}
