// onebit: population counts of the verilated model as the CPU's own instruction.
//
// Included into every C++ file of a model after Verilator's headers (`--compiler-include`),
// so these macros replace the helpers only where the generated code calls them. Verilator
// counts the ones of a word with a chain of shifts and masks (verilated_funcs.h); an XNOR
// MVAU counts SIMD bits per PE every step, and that chain was a sixth of a TFC simulation's
// time. Compiled with -mpopcnt (x86-64, where the CPU has it: onebit.hw.verilator) or on
// AArch64 the builtin is one instruction; elsewhere Verilator's own helpers stay.
#ifndef ONEBIT_POPCOUNT_H_
#define ONEBIT_POPCOUNT_H_

#if defined(__POPCNT__) || defined(__aarch64__)
#define VL_COUNTONES_I(lhs) static_cast<IData>(__builtin_popcount(lhs))
#define VL_COUNTONES_Q(lhs) static_cast<IData>(__builtin_popcountll(lhs))
static inline IData onebit_countones_w(int words, WDataInP const lwp) {
    IData r = 0;
    for (int i = 0; i < words; ++i) r += static_cast<IData>(__builtin_popcount(lwp[i]));
    return r;
}
#define VL_COUNTONES_W(words, lwp) onebit_countones_w(words, lwp)
#endif

#endif  // ONEBIT_POPCOUNT_H_
