# shellcheck shell=bash
# dbtier toolkit: install, init, harden (filled in below).
cmd_install() { die "install: not implemented yet"; }
cmd_init() { die "init: not implemented yet"; }
cmd_harden() { die "harden: not implemented yet"; }
