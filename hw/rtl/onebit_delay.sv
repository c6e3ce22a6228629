// onebit_delay: a WIDTH-bit signal delayed by CYCLES clock cycles (a shift register without
// enable, reset to 0); CYCLES = 0 is a wire. Carries valid and side-band bits beside a
// pipelined datapath that has no stalls.
module onebit_delay #(
  parameter int unsigned WIDTH = 1,
  parameter int unsigned CYCLES = 1
) (
  input  logic             clk,
  input  logic             rst_n,
  input  logic [WIDTH-1:0] d,
  output logic [WIDTH-1:0] q
);
  if (CYCLES == 0) begin : g_wire
    assign q = d;
    wire unused = &{1'b0, clk, rst_n};
  end else begin : g_shift
    logic [WIDTH-1:0] r [CYCLES];
    always_ff @(posedge clk) begin
      if (!rst_n) begin
        for (int i = 0; i < CYCLES; i++) r[i] <= '0;
      end else begin
        r[0] <= d;
        for (int i = 1; i < CYCLES; i++) r[i] <= r[i-1];
      end
    end
    assign q = r[CYCLES-1];
  end
endmodule
