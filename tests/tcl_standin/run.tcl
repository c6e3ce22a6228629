# tclsh run.tcl LOG SCRIPT: the Vivado stand-ins, then SCRIPT as Vivado would source it.
source [file join [file dirname [file normalize [info script]]] vivado.tcl]
set sb::log [open [lindex $argv 0] w]
source [lindex $argv 1]
