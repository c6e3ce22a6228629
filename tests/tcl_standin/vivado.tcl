# Recording stand-ins of the Vivado/Vitis Tcl commands onebit's bundles use, for tests
# without Vivado. Each command appends one line to the log (name and words, separated by
# \x1f), returns a plausible object name and fails like Vivado would on wrong ordering:
# a project before files, existing files only, IP in the catalog, cells before their pins,
# pins that the cell's configuration enables, synthesis before implementation.
# Usage: tclsh run.tcl LOG SCRIPT

namespace eval sb {
    variable log
    variable project ""
    variable part ""
    variable top ""
    variable files {}
    variable core ""
    variable packaged {}
    variable repo ""
    variable catalog {xilinx.com:ip:processing_system7:5.5 xilinx.com:ip:zynq_ultra_ps_e:3.5
        xilinx.com:ip:proc_sys_reset:5.0 xilinx.com:ip:smartconnect:1.0
        xilinx.com:ip:axi_interconnect:2.1}
    variable bd ""
    variable cells [dict create]
    variable props [dict create]
    variable runs [dict create]
    variable registers {}
}

proc sb::record {name args} {
    variable log
    set words [list $name]
    foreach a $args { lappend words [string map [list \n \\n] $a] }
    puts $log [join $words \x1f]
    flush $log
}

proc sb::fail {msg} { error "stand-in: $msg" }

proc sb::need_project {cmd} {
    if {$sb::project eq ""} { sb::fail "$cmd before create_project" }
}

proc sb::need_bd {cmd} {
    if {$sb::bd eq ""} { sb::fail "$cmd before create_bd_design" }
}

# options: parse "-name value" pairs and flags out of args
proc sb::opts {spec arglist} {
    set out [dict create _ {}]
    for {set i 0} {$i < [llength $arglist]} {incr i} {
        set a [lindex $arglist $i]
        if {[string index $a 0] eq "-" && [dict exists $spec $a]} {
            if {[dict get $spec $a]} {
                incr i
                dict set out $a [lindex $arglist $i]
            } else {
                dict set out $a 1
            }
        } elseif {[string index $a 0] eq "-"} {
            sb::fail "unknown option $a"
        } else {
            dict lappend out _ $a
        }
    }
    return $out
}

# --- projects and files ---------------------------------------------------------------
proc create_project {args} {
    sb::record create_project {*}$args
    set o [sb::opts {-force 0 -part 1} $args]
    lassign [dict get $o _] name dir
    if {$name eq "" || $dir eq ""} { sb::fail "create_project needs a name and a directory" }
    if {![dict exists $o -part]} { sb::fail "create_project without -part" }
    if {$sb::project ne ""} { sb::fail "create_project while $sb::project is open" }
    file mkdir $dir
    set sb::project $name
    set sb::part [dict get $o -part]
    set sb::files {}
    set sb::top ""
    set sb::bd ""
    set sb::cells [dict create]
    set sb::runs [dict create]
    set sb::dir $dir
    return $name
}

proc close_project {args} {
    sb::record close_project {*}$args
    sb::need_project close_project
    set sb::project ""
}

proc current_project {args} { sb::need_project current_project; return project:$sb::project }
proc current_fileset {args} { sb::need_project current_fileset; return fileset:sources_1 }
proc get_filesets {args} { sb::need_project get_filesets; return fileset:[lindex $args end] }

proc add_files {args} {
    sb::record add_files {*}$args
    sb::need_project add_files
    set o [sb::opts {-norecurse 0 -fileset 1} $args]
    set paths [concat {*}[dict get $o _]]
    if {[llength $paths] == 0} { sb::fail "add_files without files" }
    foreach p $paths {
        if {![file isfile $p]} { sb::fail "add_files: no such file $p" }
        lappend sb::files [file normalize $p]
    }
    return $paths
}

proc get_files {args} {
    sb::need_project get_files
    set o [sb::opts {-all 0 -of_objects 1 -quiet 0} $args]
    set pat [lindex [dict get $o _] 0]
    foreach f $sb::files {
        if {[string match *$pat $f] || [file tail $f] eq $pat} { return file:$f }
    }
    sb::fail "get_files: no file $pat in the project"
}

proc update_compile_order {args} { sb::record update_compile_order {*}$args; sb::need_project update_compile_order }

proc get_board_parts {args} {
    set o [sb::opts {-quiet 0} $args]
    return [dict get $o _]
}

proc set_property {args} {
    sb::record set_property {*}$args
    if {[lindex $args 0] eq "-dict"} {
        set pairs [lindex $args 1]
        set objs [lrange $args 2 end]
    } else {
        set pairs [list [lindex $args 0] [lindex $args 1]]
        set objs [lrange $args 2 end]
    }
    if {[llength $objs] != 1 || [lindex $objs 0] eq ""} { sb::fail "set_property without one object" }
    set obj [lindex $objs 0]
    foreach {k v} $pairs {
        dict set sb::props $obj $k $v
        if {$k eq "top" && $obj eq "fileset:sources_1"} { set sb::top $v }
        if {$k eq "ip_repo_paths"} { set sb::repo $v }
    }
}

proc get_property {name obj} {
    if {$name eq "PROGRESS"} {
        set run [string range $obj 4 end]
        if {![dict exists $sb::runs $run]} { sb::fail "get_property PROGRESS of a run never launched" }
        return [expr {[dict get $sb::runs $run] eq "done" ? "100%" : "0%"}]
    }
    if {$name eq "DIRECTORY"} { return $sb::dir }
    if {[dict exists $sb::props $obj $name]} { return [dict get $sb::props $obj $name] }
    return ""
}

# --- IP packaging -----------------------------------------------------------------------
namespace eval ipx {}
proc ipx::package_project {args} {
    sb::record ipx::package_project {*}$args
    sb::need_project ipx::package_project
    set o [sb::opts {-root_dir 1 -vendor 1 -library 1 -taxonomy 1 -import_files 0 -set_current 1} $args]
    if {$sb::top eq ""} { sb::fail "ipx::package_project before the top is set" }
    if {[llength $sb::files] == 0} { sb::fail "ipx::package_project of a project without files" }
    file mkdir [dict get $o -root_dir]
    set sb::core [list [dict get $o -vendor] [dict get $o -library] $sb::top [dict get $o -root_dir]]
    set sb::registers {}
    return core:$sb::top
}
proc ipx::current_core {args} {
    if {$sb::core eq ""} { sb::fail "ipx::current_core without a packaged core" }
    return core:[lindex $sb::core 2]
}
proc sb::core_cmd {name args} {
    sb::record $name {*}$args
    if {$sb::core eq ""} { sb::fail "$name without a packaged core" }
    if {[lindex $args end] ne "core:[lindex $sb::core 2]"} { sb::fail "$name: not the core: [lindex $args end]" }
}
foreach c {infer_bus_interfaces associate_bus_interfaces create_xgui_files update_checksums
           check_integrity} {
    proc ipx::$c {args} "sb::core_cmd ipx::$c {*}\$args"
}
proc ipx::save_core {args} {
    sb::core_cmd ipx::save_core {*}$args
    lassign $sb::core v l n dir
    set fh [open [file join $dir component.xml] w]; puts $fh "<component/>"; close $fh
    lappend sb::packaged [list $v:$l:$n:[get_property version core:$n] $dir]
}
proc ipx::get_bus_interfaces {name args} { return busif:$name }
proc ipx::get_bus_parameters {name args} { return busparam:$name }
proc ipx::get_memory_maps {name args} { return memmap:$name }
proc ipx::get_address_blocks {args} { return block:reg0 }
proc ipx::add_register {name block} {
    sb::record ipx::add_register $name $block
    if {$block ne "block:reg0"} { sb::fail "ipx::add_register outside the control block" }
    lappend sb::registers $name
}
proc ipx::get_registers {name args} {
    if {$name ni $sb::registers} { sb::fail "ipx::get_registers: no register $name" }
    return reg:$name
}
proc ipx::add_register_parameter {name reg} { sb::record ipx::add_register_parameter $name $reg }
proc ipx::get_register_parameters {name args} { return regparam:$name:[lindex $args end] }

proc update_ip_catalog {args} {
    sb::record update_ip_catalog {*}$args
    foreach p $sb::packaged {
        lassign $p vlnv dir
        if {[file normalize $dir] eq [file normalize $sb::repo]} { lappend sb::catalog $vlnv }
    }
}
proc get_ipdefs {args} {
    set o [sb::opts {-all 0} $args]
    return [lsearch -all -inline $sb::catalog [lindex [dict get $o _] 0]]
}

proc package_xo {args} {
    sb::record package_xo {*}$args
    set o [sb::opts {-force 0 -xo_path 1 -kernel_name 1 -ip_directory 1 -kernel_xml 1} $args]
    foreach k {-xo_path -kernel_name -ip_directory -kernel_xml} {
        if {![dict exists $o $k]} { sb::fail "package_xo without $k" }
    }
    if {![file isfile [file join [dict get $o -ip_directory] component.xml]]} {
        sb::fail "package_xo: no packaged IP in [dict get $o -ip_directory]"
    }
    if {![file isfile [dict get $o -kernel_xml]]} { sb::fail "package_xo: no [dict get $o -kernel_xml]" }
    set fh [open [dict get $o -xo_path] w]; puts $fh xo; close $fh
}

# --- block design -----------------------------------------------------------------------
# pins of each IP: always there, or enabled by a CONFIG property set to 1
namespace eval sb {
    variable pins [dict create \
        processing_system7 {FCLK_CLK0 {} FCLK_RESET0_N {} DDR {} FIXED_IO {}
            M_AXI_GP0 CONFIG.PCW_USE_M_AXI_GP0 M_AXI_GP0_ACLK CONFIG.PCW_USE_M_AXI_GP0
            S_AXI_HP0 CONFIG.PCW_USE_S_AXI_HP0 S_AXI_HP0_ACLK CONFIG.PCW_USE_S_AXI_HP0
            IRQ_F2P CONFIG.PCW_USE_FABRIC_INTERRUPT} \
        zynq_ultra_ps_e {pl_clk0 CONFIG.PSU__FPGA_PL0_ENABLE pl_resetn0 CONFIG.PSU__FPGA_PL0_ENABLE
            M_AXI_HPM0_FPD CONFIG.PSU__USE__M_AXI_GP0 maxihpm0_fpd_aclk CONFIG.PSU__USE__M_AXI_GP0
            S_AXI_HP0_FPD CONFIG.PSU__USE__S_AXI_GP2 saxihp0_fpd_aclk CONFIG.PSU__USE__S_AXI_GP2
            pl_ps_irq0 CONFIG.PSU__USE__IRQ0} \
        proc_sys_reset {slowest_sync_clk {} ext_reset_in {} peripheral_aresetn {}
            interconnect_aresetn {}} \
        smartconnect {aclk {} aresetn {} S00_AXI {} M00_AXI {}} \
        axi_interconnect {ACLK {} ARESETN {} S00_ACLK {} S00_ARESETN {} M00_ACLK {}
            M00_ARESETN {} S00_AXI {} M00_AXI {}} \
        onebit_shell {ap_clk {} ap_rst_n {} interrupt {} m_axi_gmem {} s_axi_control {}}]
    variable preset_applied [dict create]
}

proc create_bd_design {name} {
    sb::record create_bd_design $name
    sb::need_project create_bd_design
    set sb::bd $name
    lappend sb::files [file join $sb::dir $sb::project.srcs sources_1 bd $name $name.bd]
    return $name
}
proc create_bd_cell {args} {
    sb::record create_bd_cell {*}$args
    sb::need_bd create_bd_cell
    set o [sb::opts {-type 1 -vlnv 1 -reference 1} $args]
    set name [lindex [dict get $o _] 0]
    set vlnv [dict get $o -vlnv]
    if {$vlnv ni $sb::catalog} { sb::fail "create_bd_cell: $vlnv is not in the IP catalog" }
    if {[dict exists $sb::cells $name]} { sb::fail "create_bd_cell: $name exists" }
    # onebit's packaged kernel (any top name) has the shell's pins
    set ip [expr {[string match onebit.org:* $vlnv] ? "onebit_shell" : [lindex [split $vlnv :] 2]}]
    dict set sb::cells $name $ip
    return /$name
}
proc get_bd_cells {name} {
    if {![dict exists $sb::cells $name]} { sb::fail "get_bd_cells: no cell $name" }
    return /$name
}
proc sb::pin {path} {
    lassign [split $path /] cell pin
    if {![dict exists $sb::cells $cell]} { sb::fail "pin $path of a cell not yet created" }
    set ip [dict get $sb::cells $cell]
    set known [dict get $sb::pins $ip]
    if {![dict exists $known $pin]} { sb::fail "$ip has no pin $pin" }
    set need [dict get $known $pin]
    if {$need ne "" && [get_property $need /$cell] ne "1"} {
        sb::fail "pin $path needs $need = 1 on $cell first"
    }
    if {$ip in {processing_system7 zynq_ultra_ps_e} && ![dict exists $sb::preset_applied $cell]} {
        sb::fail "pin $path before the board preset of $cell is applied"
    }
    return /$path
}
proc get_bd_pins {path} { return [sb::pin $path] }
proc get_bd_intf_pins {path} { return [sb::pin $path] }
proc apply_bd_automation {args} {
    sb::record apply_bd_automation {*}$args
    set o [sb::opts {-rule 1 -config 1} $args]
    set cell [string range [lindex [dict get $o _] 0] 1 end]
    if {![dict exists $sb::cells $cell]} { sb::fail "apply_bd_automation on no cell" }
    dict set sb::preset_applied $cell 1
}
proc connect_bd_net {args} {
    sb::record connect_bd_net {*}$args
    if {[llength $args] < 2} { sb::fail "connect_bd_net needs two pins" }
}
proc connect_bd_intf_net {args} {
    sb::record connect_bd_intf_net {*}$args
    if {[llength $args] != 2} { sb::fail "connect_bd_intf_net needs two interface pins" }
}
foreach c {assign_bd_address validate_bd_design save_bd_design} {
    proc $c {args} "sb::record $c {*}\$args; sb::need_bd $c"
}
proc make_wrapper {args} {
    sb::record make_wrapper {*}$args
    sb::need_bd make_wrapper
    set dir [file join $sb::dir $sb::project.gen sources_1 bd $sb::bd hdl]
    file mkdir $dir
    set f [file join $dir ${sb::bd}_wrapper.v]
    set fh [open $f w]; puts $fh "module ${sb::bd}_wrapper; endmodule"; close $fh
    return $f
}

# --- runs -------------------------------------------------------------------------------
proc get_runs {name} { return run:$name }
proc launch_runs {args} {
    sb::record launch_runs {*}$args
    sb::need_project launch_runs
    set o [sb::opts {-to_step 1 -jobs 1} $args]
    set run [lindex [dict get $o _] 0]
    if {$sb::top eq ""} { sb::fail "launch_runs without a top" }
    if {$run eq "impl_1" && [get_property PROGRESS run:synth_1] ne "100%"} {
        sb::fail "launch_runs impl_1 before synth_1 finished"
    }
    dict set sb::runs $run [expr {[dict exists $o -to_step] ? [dict get $o -to_step] : "run"}]
}
proc wait_on_run {run} {
    sb::record wait_on_run $run
    if {![dict exists $sb::runs $run]} { sb::fail "wait_on_run $run never launched" }
    set step [dict get $sb::runs $run]
    dict set sb::runs $run done
    if {$run eq "impl_1" && $step eq "write_bitstream"} {
        set d [file join $sb::dir $sb::project.runs impl_1]
        file mkdir $d
        set fh [open [file join $d $sb::top.bit] w]; puts $fh bit; close $fh
        set h [file join $sb::dir $sb::project.gen sources_1 bd $sb::bd hw_handoff]
        file mkdir $h
        set fh [open [file join $h $sb::bd.hwh] w]; puts $fh hwh; close $fh
    }
}
