/*
 * capturerig trigger box: command parser and output scheduler (see parser.h and PROTOCOL.md).
 * Plain C99, no malloc, no floating point; everything the board does is derived from tb_state.
 */
#include "parser.h"

#include <stdio.h>
#include <string.h>

#define TB_MAX_TOKENS 4

static const char *error_text(int code)
{
    switch (code) {
    case TB_ERR_UNKNOWN_COMMAND: return "unknown command";
    case TB_ERR_BAD_ARGUMENT: return "bad argument";
    case TB_ERR_NO_SUCH_OUTPUT: return "no such output";
    case TB_ERR_LINE_TOO_LONG: return "line too long";
    case TB_ERR_BUSY: return "busy firing";
    case TB_ERR_NOT_FIRED: return "no FIRE yet";
    default: return "error";
    }
}

static void reply_error(tb_state *st, int code)
{
    snprintf(st->reply, sizeof st->reply, "ERR %d %s", code, error_text(code));
}

static void reply_ok(tb_state *st)
{
    strcpy(st->reply, "OK");
}

static uint16_t all_outputs(const tb_state *st)
{
    return (uint16_t)((1UL << st->outputs) - 1UL);
}

void tb_init(tb_state *st, uint8_t outputs, const char *serial, uint32_t now_us)
{
    memset(st, 0, sizeof *st);
    if (outputs < 1) outputs = 1;
    if (outputs > TB_MAX_OUTPUTS) outputs = TB_MAX_OUTPUTS;
    st->outputs = outputs;
    strncpy(st->serial, serial, TB_SERIAL_MAX);
    st->serial[TB_SERIAL_MAX] = '\0';
    st->pulse_us = TB_DEFAULT_PULSE_US;
    st->watchdog_us = TB_DEFAULT_WATCHDOG_MS * 1000UL;
    st->last_host_us = now_us;
}

/* Decimal or 0x-prefixed hexadecimal, at most 32 bits; false on anything else (sign, junk, overflow). */
static bool parse_u32(const char *text, uint32_t *out)
{
    uint32_t value = 0;
    unsigned base = 10;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text += 2;
    }
    if (*text == '\0') return false;
    for (; *text; ++text) {
        unsigned digit;
        char c = *text;
        if (c >= '0' && c <= '9') digit = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f') digit = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F') digit = (unsigned)(c - 'A' + 10);
        else return false;
        if (value > (UINT32_MAX - digit) / base) return false;
        value = value * base + digit;
    }
    *out = value;
    return true;
}

/* Split `line` (copied into buf) on spaces; returns the token count or -1 when there are too many. */
static int tokenize(char *buf, char *tokens[TB_MAX_TOKENS])
{
    int count = 0;
    char *p = buf;
    while (*p) {
        while (*p == ' ') *p++ = '\0';
        if (!*p) break;
        if (count == TB_MAX_TOKENS) return -1;
        tokens[count++] = p;
        while (*p && *p != ' ') ++p;
    }
    return count;
}

/* A mask argument: every bit must name an output this board has. Returns 0 or an error code. */
static int parse_mask(const tb_state *st, const char *text, uint16_t *mask)
{
    uint32_t value;
    if (!parse_u32(text, &value)) return TB_ERR_BAD_ARGUMENT;
    if (value & ~(uint32_t)all_outputs(st)) return TB_ERR_NO_SUCH_OUTPUT;
    *mask = (uint16_t)value;
    return 0;
}

static void reply_sync(tb_state *st)
{
    size_t len = (size_t)snprintf(st->reply, sizeof st->reply, "SYNC");
    for (uint8_t i = 0; i < st->outputs; ++i) {
        if (st->sync_mask & (1U << i)) {
            len += (size_t)snprintf(st->reply + len, sizeof st->reply - len, " %u:%lu", (unsigned)i,
                                    (unsigned long)st->sync_us[i]);
        }
    }
}

static void reply_delays(tb_state *st)
{
    size_t len = (size_t)snprintf(st->reply, sizeof st->reply, "DELAY");
    for (uint8_t i = 0; i < st->outputs; ++i) {
        len += (size_t)snprintf(st->reply + len, sizeof st->reply - len, " %u:%lu", (unsigned)i,
                                (unsigned long)st->delay_us[i]);
    }
}

static void fire(tb_state *st, uint16_t mask, uint32_t now_us)
{
    st->fired = true;
    st->firing = true;
    st->fire_mask = mask;
    st->t0_us = now_us;
    memcpy(st->fire_delay_us, st->delay_us, sizeof st->fire_delay_us);
    st->sync_mask = 0;
    snprintf(st->reply, sizeof st->reply, "FIRED %lu", (unsigned long)now_us);
}

void tb_handle_line(tb_state *st, const char *line, uint32_t now_us)
{
    char buf[TB_LINE_MAX + 1];
    char *tok[TB_MAX_TOKENS];
    int n;
    uint32_t a, b;
    uint16_t mask;
    int err;

    st->last_host_us = now_us;  /* any line, even a bad one, proves the host is alive */
    st->watchdog_tripped = false;
    strncpy(buf, line, TB_LINE_MAX);
    buf[TB_LINE_MAX] = '\0';
    n = tokenize(buf, tok);
    if (n == 0) {
        reply_error(st, TB_ERR_UNKNOWN_COMMAND);
        return;
    }
    if (n < 0) {
        reply_error(st, TB_ERR_BAD_ARGUMENT);
        return;
    }
#define ARGS(count) do { if (n != (count) + 1) { reply_error(st, TB_ERR_BAD_ARGUMENT); return; } } while (0)
    if (strcmp(tok[0], "ID?") == 0) {
        ARGS(0);
        snprintf(st->reply, sizeof st->reply, "ID capturerig-trigger %s %s %u", TB_FW_VERSION, st->serial,
                 (unsigned)st->outputs);
    } else if (strcmp(tok[0], "PING") == 0) {
        ARGS(0);
        strcpy(st->reply, "PONG");
    } else if (strcmp(tok[0], "CLOCK?") == 0) {
        ARGS(0);
        snprintf(st->reply, sizeof st->reply, "CLOCK %lu", (unsigned long)now_us);
    } else if (strcmp(tok[0], "STATE?") == 0) {
        ARGS(0);
        snprintf(st->reply, sizeof st->reply, "STATE focus=0x%04X firing=0x%04X pulse=%lu wdt=%lu",
                 (unsigned)st->focus_mask, (unsigned)(st->firing ? st->fire_mask : 0),
                 (unsigned long)st->pulse_us, (unsigned long)(st->watchdog_us / 1000UL));
    } else if (strcmp(tok[0], "FOCUS") == 0) {
        ARGS(1);
        if ((err = parse_mask(st, tok[1], &mask)) != 0) { reply_error(st, err); return; }
        st->focus_mask = mask;
        reply_ok(st);
    } else if (strcmp(tok[0], "RELEASE") == 0) {
        ARGS(0);
        st->focus_mask = 0;
        st->firing = false;
        reply_ok(st);
    } else if (strcmp(tok[0], "DELAY") == 0) {
        ARGS(2);
        if (!parse_u32(tok[1], &a) || !parse_u32(tok[2], &b)) { reply_error(st, TB_ERR_BAD_ARGUMENT); return; }
        if (a >= st->outputs) { reply_error(st, TB_ERR_NO_SUCH_OUTPUT); return; }
        if (b > TB_MAX_DELAY_US) { reply_error(st, TB_ERR_BAD_ARGUMENT); return; }
        st->delay_us[a] = b;
        reply_ok(st);
    } else if (strcmp(tok[0], "DELAY?") == 0) {
        ARGS(0);
        reply_delays(st);
    } else if (strcmp(tok[0], "PULSE") == 0) {
        ARGS(1);
        if (!parse_u32(tok[1], &a) || a < TB_MIN_PULSE_US || a > TB_MAX_PULSE_US) {
            reply_error(st, TB_ERR_BAD_ARGUMENT);
            return;
        }
        st->pulse_us = a;
        reply_ok(st);
    } else if (strcmp(tok[0], "WDT") == 0) {
        ARGS(1);
        if (!parse_u32(tok[1], &a) || a < TB_MIN_WATCHDOG_MS || a > TB_MAX_WATCHDOG_MS) {
            reply_error(st, TB_ERR_BAD_ARGUMENT);
            return;
        }
        st->watchdog_us = a * 1000UL;
        reply_ok(st);
    } else if (strcmp(tok[0], "FIRE") == 0) {
        if (n > 2) { reply_error(st, TB_ERR_BAD_ARGUMENT); return; }
        mask = all_outputs(st);
        if (n == 2 && (err = parse_mask(st, tok[1], &mask)) != 0) { reply_error(st, err); return; }
        if (mask == 0) { reply_error(st, TB_ERR_BAD_ARGUMENT); return; }
        tb_shutter_mask(st, now_us);  /* ends a finished pulse before judging "busy" */
        if (st->firing) { reply_error(st, TB_ERR_BUSY); return; }
        fire(st, mask, now_us);
    } else if (strcmp(tok[0], "SYNC?") == 0) {
        ARGS(0);
        if (!st->fired) { reply_error(st, TB_ERR_NOT_FIRED); return; }
        reply_sync(st);
    } else {
        reply_error(st, TB_ERR_UNKNOWN_COMMAND);
    }
#undef ARGS
}

bool tb_feed(tb_state *st, char c, uint32_t now_us)
{
    if (c == '\r') return false;
    if (c == '\n') {
        bool overflow = st->line_overflow;
        uint8_t len = st->line_len;
        st->line[len] = '\0';
        st->line_len = 0;
        st->line_overflow = false;
        if (overflow) {
            st->last_host_us = now_us;
            st->watchdog_tripped = false;
            reply_error(st, TB_ERR_LINE_TOO_LONG);
            return true;
        }
        if (len == 0) return false;  /* a bare newline flushes a half-sent line; it gets no reply */
        tb_handle_line(st, st->line, now_us);
        return true;
    }
    if (st->line_len >= TB_LINE_MAX) {
        st->line_overflow = true;  /* keep discarding until the newline, then answer once */
        return false;
    }
    /* Bytes outside printable ASCII are kept as '?', so the line fails as an unknown command or argument. */
    st->line[st->line_len++] = (c >= 0x20 && c <= 0x7e) ? c : '?';
    return false;
}

uint16_t tb_shutter_mask(tb_state *st, uint32_t now_us)
{
    uint16_t mask = 0;
    bool pending = false;
    uint32_t elapsed;
    if (!st->firing) return 0;
    elapsed = now_us - st->t0_us;  /* unsigned: correct across the 32-bit wrap */
    for (uint8_t i = 0; i < st->outputs; ++i) {
        uint32_t start;
        if (!(st->fire_mask & (1U << i))) continue;
        start = st->fire_delay_us[i];
        if (elapsed < start) {
            pending = true;
        } else if (elapsed - start < st->pulse_us) {
            mask |= (uint16_t)(1U << i);
            pending = true;
        }
    }
    if (!pending) st->firing = false;
    return mask;
}

uint16_t tb_focus_mask(tb_state *st, uint32_t now_us)
{
    return (uint16_t)(st->focus_mask | tb_shutter_mask(st, now_us));
}

bool tb_tick(tb_state *st, uint32_t now_us)
{
    uint32_t silent = now_us - st->last_host_us;
    if (st->watchdog_tripped || silent <= st->watchdog_us) return false;
    tb_shutter_mask(st, now_us);
    if (st->focus_mask == 0 && !st->firing) return false;
    st->focus_mask = 0;
    st->firing = false;
    st->watchdog_tripped = true;
    snprintf(st->reply, sizeof st->reply, "! WATCHDOG released all outputs after %lu ms without a command",
             (unsigned long)(silent / 1000UL));
    return true;
}

void tb_sync_edge(tb_state *st, uint8_t output, uint32_t now_us)
{
    uint16_t bit;
    if (!st->fired || output >= st->outputs) return;
    bit = (uint16_t)(1U << output);
    if (!(st->fire_mask & bit) || (st->sync_mask & bit)) return;
    st->sync_us[output] = now_us - st->t0_us;
    st->sync_mask |= bit;
}
