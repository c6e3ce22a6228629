// onebit_axi_reader: AXI4 master read channel that streams a memory range out, beat by beat.
//
// `start` (one cycle) begins a transfer of `beats` bus beats from the bus-aligned address
// `base`; `busy` stays high until the last beat has arrived. Reads are INCR bursts split by
// onebit_axi_burst (<= 256 beats, never across 4 KiB), up to MAX_OUTSTANDING bursts in
// flight, returned in order (one ID). A burst is requested only when the FIFO has room for all
// of it besides the beats already requested (`reserved`), so R is never stalled and a slow
// consumer never holds the interconnect. AR outputs come from registers and stay stable while
// arvalid && !arready; rready is the FIFO's registered ready.
module onebit_axi_reader #(
  parameter int unsigned DATA_W          = 64,
  parameter int unsigned ADDR_W          = 64,
  parameter int unsigned MAX_OUTSTANDING = 4,
  parameter int unsigned FIFO_BEATS      = 512   // >= one burst: 256 or 4096 / (DATA_W / 8)
) (
  input  logic              clk,
  input  logic              rst_n,
  input  logic              start,
  input  logic [ADDR_W-1:0] base,
  input  logic [63:0]       beats,
  output logic              busy,
  // AR channel
  output logic [ADDR_W-1:0] m_axi_araddr,
  output logic [7:0]        m_axi_arlen,
  output logic [2:0]        m_axi_arsize,
  output logic [1:0]        m_axi_arburst,
  output logic [3:0]        m_axi_arcache,
  output logic [2:0]        m_axi_arprot,
  output logic              m_axi_arvalid,
  input  logic              m_axi_arready,
  // R channel
  input  logic [DATA_W-1:0] m_axi_rdata,
  input  logic [1:0]        m_axi_rresp,
  input  logic              m_axi_rlast,
  input  logic              m_axi_rvalid,
  output logic              m_axi_rready,
  // the data, one bus word per beat
  output logic [DATA_W-1:0] m_axis_tdata,
  output logic              m_axis_tvalid,
  input  logic              m_axis_tready
);
  localparam int unsigned BUS_BYTES = DATA_W / 8;
  localparam int unsigned MAX_BURST = 4096 / BUS_BYTES < 256 ? 4096 / BUS_BYTES : 256;
  localparam int unsigned RES_W     = $clog2(FIFO_BEATS + 1);
  localparam int unsigned OUT_W     = $clog2(MAX_OUTSTANDING + 1);

  if (FIFO_BEATS < MAX_BURST) begin : g_bad_fifo
    $error("onebit_axi_reader: FIFO_BEATS (%0d) must hold a burst (%0d)", FIFO_BEATS, MAX_BURST);
  end
  if (MAX_OUTSTANDING < 1) begin : g_bad_out
    $error("onebit_axi_reader: MAX_OUTSTANDING must be >= 1");
  end

  logic [ADDR_W-1:0] addr;       // next burst's address
  logic [63:0]       ar_left;    // beats not yet requested
  logic [63:0]       r_left;     // beats not yet arrived
  logic [RES_W-1:0]  reserved;   // beats requested and not yet taken from the FIFO
  logic [OUT_W-1:0]  in_flight;  // bursts requested and not yet complete
  logic [8:0]        nb;

  onebit_axi_burst #(.BUS_BYTES(BUS_BYTES)) u_burst (
    .addr(addr[11:0]), .remaining(ar_left), .beats(nb)
  );

  wire issue  = busy && !m_axi_arvalid && ar_left != 0 && 32'(in_flight) < MAX_OUTSTANDING
                && 32'(reserved) + 32'(nb) <= FIFO_BEATS;
  wire r_fire = m_axi_rvalid && m_axi_rready;
  wire pop    = m_axis_tvalid && m_axis_tready;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      busy          <= 1'b0;
      m_axi_arvalid <= 1'b0;
      ar_left       <= '0;
      r_left        <= '0;
      reserved      <= '0;
      in_flight     <= '0;
    end else begin
      if (start) begin
        busy    <= beats != 0;
        addr    <= base;
        ar_left <= beats;
        r_left  <= beats;
      end else if (busy && r_left == 0) begin
        busy <= 1'b0;
      end
      if (m_axi_arvalid && m_axi_arready) m_axi_arvalid <= 1'b0;
      if (issue) begin
        m_axi_arvalid <= 1'b1;
        m_axi_araddr  <= addr;
        m_axi_arlen   <= 8'(nb - 9'd1);
        addr          <= addr + (ADDR_W'(nb) << $clog2(BUS_BYTES));
        ar_left       <= ar_left - 64'(nb);
      end
      if (r_fire) r_left <= r_left - 64'd1;
      reserved  <= reserved + (issue ? RES_W'(nb) : '0) - RES_W'(pop);
      in_flight <= in_flight + OUT_W'(issue) - OUT_W'(r_fire && m_axi_rlast);
    end
  end

  assign m_axi_arsize  = 3'($clog2(BUS_BYTES));
  assign m_axi_arburst = 2'b01;    // INCR
  assign m_axi_arcache = 4'b0011;  // normal, non-cacheable, bufferable
  assign m_axi_arprot  = 3'b000;

  onebit_fifo #(.WIDTH(DATA_W), .DEPTH(FIFO_BEATS)) u_fifo (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(m_axi_rdata), .s_axis_tvalid(m_axi_rvalid), .s_axis_tready(m_axi_rready),
    .m_axis_tdata(m_axis_tdata), .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready)
  );

  // rresp is not checked: the memory model fails a run on a bad access (docs/shell.md).
  logic unused;
  assign unused = ^m_axi_rresp;
endmodule
