// onebit_axi_writer: AXI4 master write channel that writes a stream of bus words to memory.
//
// `start` (one cycle) begins a transfer of `beats` bus beats to the bus-aligned address
// `base`; the final beat is written with `last_strb` (the bytes past the end of the data are
// left untouched), every other beat with all strobes. `busy` stays high until the write
// response of the last burst has arrived: a run is done only when memory holds its data.
//
// Bursts are split by onebit_axi_burst (<= 256 beats, never across 4 KiB). A burst's address
// is issued only once all its data waits in the FIFO (`pushed - committed`), so W never stalls
// mid-burst on a slow producer; up to MAX_OUTSTANDING bursts await their response. W beats of
// a burst follow its AW; the W side recomputes each burst's length from its own address to
// place wlast. All AXI outputs are registers or functions of registers.
module onebit_axi_writer #(
  parameter int unsigned DATA_W          = 64,
  parameter int unsigned ADDR_W          = 64,
  parameter int unsigned MAX_OUTSTANDING = 4,
  parameter int unsigned FIFO_BEATS      = 512   // >= one burst: 256 or 4096 / (DATA_W / 8)
) (
  input  logic                clk,
  input  logic                rst_n,
  input  logic                start,
  input  logic [ADDR_W-1:0]   base,
  input  logic [63:0]         beats,
  input  logic [DATA_W/8-1:0] last_strb,
  output logic                busy,
  // the data, one bus word per beat
  input  logic [DATA_W-1:0]   s_axis_tdata,
  input  logic                s_axis_tvalid,
  output logic                s_axis_tready,
  // AW channel
  output logic [ADDR_W-1:0]   m_axi_awaddr,
  output logic [7:0]          m_axi_awlen,
  output logic [2:0]          m_axi_awsize,
  output logic [1:0]          m_axi_awburst,
  output logic [3:0]          m_axi_awcache,
  output logic [2:0]          m_axi_awprot,
  output logic                m_axi_awvalid,
  input  logic                m_axi_awready,
  // W channel
  output logic [DATA_W-1:0]   m_axi_wdata,
  output logic [DATA_W/8-1:0] m_axi_wstrb,
  output logic                m_axi_wlast,
  output logic                m_axi_wvalid,
  input  logic                m_axi_wready,
  // B channel
  input  logic [1:0]          m_axi_bresp,
  input  logic                m_axi_bvalid,
  output logic                m_axi_bready
);
  localparam int unsigned BUS_BYTES = DATA_W / 8;
  localparam int unsigned SHIFT     = $clog2(BUS_BYTES);
  localparam int unsigned MAX_BURST = 4096 / BUS_BYTES < 256 ? 4096 / BUS_BYTES : 256;
  localparam int unsigned OUT_W     = $clog2(MAX_OUTSTANDING + 1);

  if (FIFO_BEATS < MAX_BURST) begin : g_bad_fifo
    $error("onebit_axi_writer: FIFO_BEATS (%0d) must hold a burst (%0d)", FIFO_BEATS, MAX_BURST);
  end
  if (MAX_OUTSTANDING < 1) begin : g_bad_out
    $error("onebit_axi_writer: MAX_OUTSTANDING must be >= 1");
  end

  // AW side
  logic [ADDR_W-1:0] aw_addr;
  logic [63:0]       aw_left;     // beats not yet covered by an issued burst
  logic [63:0]       pushed;      // beats that entered the FIFO this transfer
  logic [63:0]       committed;   // beats of the bursts issued this transfer
  logic [63:0]       aw_bursts;   // bursts issued
  logic [OUT_W-1:0]  waiting;     // bursts issued whose response has not arrived
  logic [8:0]        aw_nb;
  // W side
  logic [ADDR_W-1:0] w_addr;
  logic [63:0]       w_left;      // beats not yet written
  logic [63:0]       w_bursts;    // bursts whose first beat was written
  logic [8:0]        w_cnt;       // beats left in the current burst (0: between bursts)
  logic [8:0]        w_nb;
  logic              fifo_valid;

  onebit_axi_burst #(.BUS_BYTES(BUS_BYTES)) u_aw_burst (
    .addr(aw_addr[11:0]), .remaining(aw_left), .beats(aw_nb)
  );
  onebit_axi_burst #(.BUS_BYTES(BUS_BYTES)) u_w_burst (
    .addr(w_addr[11:0]), .remaining(w_left), .beats(w_nb)
  );

  wire issue = busy && !m_axi_awvalid && aw_left != 0 && 32'(waiting) < MAX_OUTSTANDING
               && pushed - committed >= 64'(aw_nb);
  wire push   = s_axis_tvalid && s_axis_tready;
  wire w_open = w_cnt != 0 || w_bursts != aw_bursts;  // the current burst's AW was issued
  wire w_fire = m_axi_wvalid && m_axi_wready;
  wire b_fire = m_axi_bvalid && m_axi_bready;

  assign m_axi_wvalid = fifo_valid && w_open;
  assign m_axi_wlast  = w_cnt == 0 ? w_nb == 9'd1 : w_cnt == 9'd1;
  assign m_axi_wstrb  = w_left == 64'd1 ? last_strb : '1;

  always_ff @(posedge clk) begin
    if (!rst_n) begin
      busy          <= 1'b0;
      m_axi_awvalid <= 1'b0;
      aw_left       <= '0;
      w_left        <= '0;
      w_cnt         <= '0;
      waiting       <= '0;
      pushed        <= '0;
      committed     <= '0;
      aw_bursts     <= '0;
      w_bursts      <= '0;
    end else begin
      if (start) begin
        busy      <= beats != 0;
        aw_addr   <= base;
        w_addr    <= base;
        aw_left   <= beats;
        w_left    <= beats;
        pushed    <= '0;
        committed <= '0;
        aw_bursts <= '0;
        w_bursts  <= '0;
      end else begin
        if (busy && aw_left == 0 && w_left == 0 && waiting == 0) busy <= 1'b0;
        if (push) pushed <= pushed + 64'd1;
        if (issue) begin
          aw_addr   <= aw_addr + (ADDR_W'(aw_nb) << SHIFT);
          aw_left   <= aw_left - 64'(aw_nb);
          committed <= committed + 64'(aw_nb);
          aw_bursts <= aw_bursts + 64'd1;
        end
        if (w_fire) begin
          w_addr <= w_addr + ADDR_W'(BUS_BYTES);
          w_left <= w_left - 64'd1;
          if (w_cnt == 0) begin
            w_cnt    <= w_nb - 9'd1;
            w_bursts <= w_bursts + 64'd1;
          end else begin
            w_cnt <= w_cnt - 9'd1;
          end
        end
      end
      if (m_axi_awvalid && m_axi_awready) m_axi_awvalid <= 1'b0;
      if (issue) begin
        m_axi_awvalid <= 1'b1;
        m_axi_awaddr  <= aw_addr;
        m_axi_awlen   <= 8'(aw_nb - 9'd1);
      end
      waiting <= waiting + OUT_W'(issue) - OUT_W'(b_fire);
    end
  end

  assign m_axi_awsize  = 3'(SHIFT);
  assign m_axi_awburst = 2'b01;    // INCR
  assign m_axi_awcache = 4'b0011;  // normal, non-cacheable, bufferable
  assign m_axi_awprot  = 3'b000;
  assign m_axi_bready  = 1'b1;

  onebit_fifo #(.WIDTH(DATA_W), .DEPTH(FIFO_BEATS)) u_fifo (
    .clk(clk), .rst_n(rst_n),
    .s_axis_tdata(s_axis_tdata), .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),
    .m_axis_tdata(m_axi_wdata), .m_axis_tvalid(fifo_valid), .m_axis_tready(w_fire)
  );

  // bresp is not checked: the memory model fails a run on a bad access (docs/shell.md).
  logic unused;
  assign unused = ^m_axi_bresp;
endmodule
