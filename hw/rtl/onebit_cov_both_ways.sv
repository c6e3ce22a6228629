// onebit_cov_both_ways: functional coverage of ROWS x COLS compares (simulation only: the
// module exists only with `define ONEBIT_COVERAGE; onebit.hw.coverage reads what it writes).
//
// Each cycle with `en`, compare `c` of row `row` was seen true (`ge[c]`: a value at or above
// its threshold) and/or false (`lt[c]`: below it). With the plusarg +coverage=DIR, `final`
// appends
//   <instance> KIND <seen both ways> <only >=> <only <> <ROWS*COLS>
// to DIR/functional.txt. Used for onebit_mvau's thresholds and gates and onebit_thermometer's
// levels.
`ifdef ONEBIT_COVERAGE
module onebit_cov_both_ways #(
  parameter int unsigned ROWS = 1,
  parameter int unsigned COLS = 1,
  parameter string       KIND = "thresholds",
  localparam int unsigned ROW_W = ROWS > 1 ? $clog2(ROWS) : 1
) (
  input logic             clk,
  input logic             en,
  input logic [ROW_W-1:0] row,
  input logic [COLS-1:0]  ge,
  input logic [COLS-1:0]  lt
);
  /* verilator coverage_off */
  bit seen_ge [ROWS][COLS];
  bit seen_lt [ROWS][COLS];
  always_ff @(posedge clk) begin
    if (en) begin
      for (int c = 0; c < COLS; c++) begin
        if (ge[c]) seen_ge[row][c] <= 1'b1;
        if (lt[c]) seen_lt[row][c] <= 1'b1;
      end
    end
  end
  final begin
    string dir;
    int fd, both, ge_only, lt_only;
    if ($value$plusargs("coverage=%s", dir)) begin
      {both, ge_only, lt_only} = '0;
      foreach (seen_ge[i, j]) begin
        both += int'(seen_ge[i][j] && seen_lt[i][j]);
        ge_only += int'(seen_ge[i][j] && !seen_lt[i][j]);
        lt_only += int'(!seen_ge[i][j] && seen_lt[i][j]);
      end
      fd = $fopen({dir, "/functional.txt"}, "a");
      $fdisplay(fd, "%m %s %0d %0d %0d %0d", KIND, both, ge_only, lt_only, ROWS * COLS);
      $fclose(fd);
    end
  end
  /* verilator coverage_on */
endmodule
`endif
