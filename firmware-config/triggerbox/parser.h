/*
 * capturerig trigger box: hardware-independent command parser and output scheduler.
 *
 * The board layer (board_avr.c) feeds received bytes to tb_feed(), sends the reply line it gets back,
 * and, on every pass of its main loop, drives the focus and shutter pins from tb_focus_mask() and
 * tb_shutter_mask() and calls tb_tick() for the watchdog. Its flash-sync interrupt calls tb_sync_edge().
 * Everything here is plain C99: fixed-size buffers, no malloc, no floating point, 32-bit microsecond
 * clock arithmetic that survives the counter wrapping (about every 71 minutes).
 *
 * The protocol is documented in PROTOCOL.md; keep the two (and the Python simulator,
 * simulators/capturerig_sim/triggerbox_sim.py) in step.
 */
#ifndef TB_PARSER_H
#define TB_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TB_FW_VERSION "1.0.0"
#define TB_MAX_OUTPUTS 16
#define TB_LINE_MAX 48          /* longest command accepted, without the newline */
#define TB_REPLY_MAX 200        /* longest reply: SYNC? with 16 outputs of 10 digits each */
#define TB_SERIAL_MAX 16
#define TB_MAX_DELAY_US 1000000UL
#define TB_MIN_PULSE_US 1000UL
#define TB_MAX_PULSE_US 2000000UL
#define TB_DEFAULT_PULSE_US 100000UL
#define TB_MIN_WATCHDOG_MS 100UL
#define TB_MAX_WATCHDOG_MS 60000UL
#define TB_DEFAULT_WATCHDOG_MS 2000UL

/* Error codes of "ERR <code> <text>" replies (PROTOCOL.md lists them; the simulator uses the same). */
enum tb_error {
    TB_ERR_UNKNOWN_COMMAND = 1,
    TB_ERR_BAD_ARGUMENT = 2,
    TB_ERR_NO_SUCH_OUTPUT = 3,
    TB_ERR_LINE_TOO_LONG = 4,
    TB_ERR_BUSY = 5,
    TB_ERR_NOT_FIRED = 6
};

typedef struct {
    uint8_t outputs;                       /* outputs this board has (1..TB_MAX_OUTPUTS) */
    char serial[TB_SERIAL_MAX + 1];
    uint32_t delay_us[TB_MAX_OUTPUTS];     /* per-output delay after t0 for the next FIRE */
    uint32_t pulse_us;                     /* how long the shutter line is held */
    uint32_t watchdog_us;
    uint16_t focus_mask;                   /* outputs whose focus (half-press) line is held */
    /* the last FIRE */
    bool fired;                            /* a FIRE happened since boot (SYNC? is meaningful) */
    bool firing;                           /* some shutter line of that FIRE is not yet released */
    uint16_t fire_mask;
    uint32_t t0_us;
    uint32_t fire_delay_us[TB_MAX_OUTPUTS];  /* delays frozen at FIRE time */
    uint16_t sync_mask;                    /* outputs whose flash-sync input has fired since t0 */
    uint32_t sync_us[TB_MAX_OUTPUTS];      /* first sync edge per output, microseconds after t0 */
    /* host link */
    uint32_t last_host_us;
    bool watchdog_tripped;                 /* outputs were released for silence; cleared by host traffic */
    char line[TB_LINE_MAX + 1];
    uint8_t line_len;
    bool line_overflow;
    char reply[TB_REPLY_MAX + 1];
} tb_state;

/* Start with every output released; outputs is clamped to 1..TB_MAX_OUTPUTS. */
void tb_init(tb_state *st, uint8_t outputs, const char *serial, uint32_t now_us);

/* Feed one received byte. Returns true when st->reply holds a reply line (without newline) to send. */
bool tb_feed(tb_state *st, char c, uint32_t now_us);

/* Handle one complete command line (no newline); always writes exactly one reply to st->reply. */
void tb_handle_line(tb_state *st, const char *line, uint32_t now_us);

/* The pins to drive now: focus is held for armed outputs and for any output whose shutter is held. */
uint16_t tb_shutter_mask(tb_state *st, uint32_t now_us);
uint16_t tb_focus_mask(tb_state *st, uint32_t now_us);

/* Watchdog: when the host was silent longer than the watchdog while something was held, release every
 * output. Returns true (with a "! WATCHDOG ..." notice in st->reply) on the pass that released them. */
bool tb_tick(tb_state *st, uint32_t now_us);

/* Flash-sync (hot-shoe) input of `output` went active at now_us; only the first edge after a FIRE counts. */
void tb_sync_edge(tb_state *st, uint8_t output, uint32_t now_us);

#endif
