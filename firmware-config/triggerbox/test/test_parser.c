/*
 * Host unit tests of the trigger box parser and scheduler: gcc -std=c99 -Wall -Wextra -Werror -I.. ...
 * A tiny runner: each CHECK that fails prints file:line and what differed; the exit status is the
 * number of failed checks (0 = all passed).
 */
#include "../parser.h"

#include <stdio.h>
#include <string.h>

static int failures;
static int checks;

#define CHECK(cond) do { ++checks; if (!(cond)) { ++failures; \
    printf("%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(got, want) do { ++checks; if (strcmp((got), (want)) != 0) { ++failures; \
    printf("%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, (got), (want)); } } while (0)
#define CHECK_EQ(got, want) do { ++checks; if ((unsigned long)(got) != (unsigned long)(want)) { ++failures; \
    printf("%s:%d: %s = %lu, want %lu\n", __FILE__, __LINE__, #got, (unsigned long)(got), \
           (unsigned long)(want)); } } while (0)

/* Send a whole line through tb_feed (as the UART would) and return the reply, or "" when none. */
static const char *send(tb_state *st, const char *line, uint32_t now_us)
{
    bool replied = false;
    for (const char *p = line; *p; ++p) replied = tb_feed(st, *p, now_us) || replied;
    replied = tb_feed(st, '\n', now_us) || replied;
    return replied ? st->reply : "";
}

static void test_identify(void)
{
    tb_state st;
    tb_init(&st, 8, "TB0001", 0);
    CHECK_STR(send(&st, "ID?", 10), "ID capturerig-trigger " TB_FW_VERSION " TB0001 8");
    CHECK_STR(send(&st, "PING", 20), "PONG");
    CHECK_STR(send(&st, "CLOCK?", 12345), "CLOCK 12345");
    CHECK_STR(send(&st, "ID? extra", 30), "ERR 2 bad argument");
}

static void test_errors(void)
{
    tb_state st;
    char longline[TB_LINE_MAX + 10];
    tb_init(&st, 4, "TB0002", 0);
    CHECK_STR(send(&st, "HELLO", 0), "ERR 1 unknown command");
    CHECK_STR(send(&st, "fire", 0), "ERR 1 unknown command");
    CHECK_STR(send(&st, "FOCUS", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "FOCUS 0x10", 0), "ERR 3 no such output");
    CHECK_STR(send(&st, "FOCUS -1", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "FOCUS 0xZZ", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "FOCUS 99999999999", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "DELAY 4 100", 0), "ERR 3 no such output");
    CHECK_STR(send(&st, "DELAY 0 1000001", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "PULSE 999", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "WDT 99", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "FIRE 0", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "SYNC?", 0), "ERR 6 no FIRE yet");
    CHECK_STR(send(&st, "A B C D E", 0), "ERR 2 bad argument");
    CHECK_STR(send(&st, "\x01\xff", 0), "ERR 1 unknown command");
    memset(longline, 'X', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    CHECK_STR(send(&st, longline, 0), "ERR 4 line too long");
    /* the next line is parsed afresh after an overlong one */
    CHECK_STR(send(&st, "PING", 0), "PONG");
    /* a bare newline and a carriage return get no reply */
    CHECK(!tb_feed(&st, '\n', 0));
    CHECK_STR(send(&st, "PING\r", 0), "PONG");
}

static void test_focus_and_release(void)
{
    tb_state st;
    tb_init(&st, 4, "TB0003", 0);
    CHECK_STR(send(&st, "FOCUS 0x5", 0), "OK");
    CHECK_EQ(tb_focus_mask(&st, 1), 0x5);
    CHECK_EQ(tb_shutter_mask(&st, 1), 0);
    CHECK_STR(send(&st, "STATE?", 2), "STATE focus=0x0005 firing=0x0000 pulse=100000 wdt=2000");
    CHECK_STR(send(&st, "RELEASE", 3), "OK");
    CHECK_EQ(tb_focus_mask(&st, 4), 0);
}

static void test_fire_with_delays(void)
{
    tb_state st;
    uint32_t t0 = 1000;
    tb_init(&st, 4, "TB0004", 0);
    CHECK_STR(send(&st, "DELAY 1 500", 0), "OK");
    CHECK_STR(send(&st, "DELAY 2 0x3E8", 0), "OK");  /* 1000 us */
    CHECK_STR(send(&st, "PULSE 2000", 0), "OK");
    CHECK_STR(send(&st, "DELAY?", 0), "DELAY 0:0 1:500 2:1000 3:0");
    CHECK_STR(send(&st, "FIRE 0x7", t0), "FIRED 1000");
    CHECK_EQ(tb_shutter_mask(&st, t0), 0x1);
    CHECK_EQ(tb_shutter_mask(&st, t0 + 499), 0x1);
    CHECK_EQ(tb_shutter_mask(&st, t0 + 500), 0x3);
    CHECK_EQ(tb_shutter_mask(&st, t0 + 1000), 0x7);
    CHECK_EQ(tb_focus_mask(&st, t0 + 1000), 0x7);  /* full press implies half press */
    CHECK_EQ(tb_shutter_mask(&st, t0 + 2000), 0x6);
    CHECK_STR(send(&st, "FIRE", t0 + 2100), "ERR 5 busy firing");
    CHECK_EQ(tb_shutter_mask(&st, t0 + 2999), 0x4);
    CHECK_EQ(tb_shutter_mask(&st, t0 + 3000), 0x0);
    CHECK(!st.firing);
    /* delays changed after a FIRE apply to the next one only */
    CHECK_STR(send(&st, "FIRE", t0 + 3000), "FIRED 4000");
    CHECK_STR(send(&st, "DELAY 3 100000", t0 + 3001), "OK");
    CHECK_EQ(tb_shutter_mask(&st, t0 + 3001), 0x9);
}

static void test_fire_across_clock_wrap(void)
{
    tb_state st;
    uint32_t t0 = UINT32_MAX - 100;
    tb_init(&st, 2, "TB0005", t0);
    CHECK_STR(send(&st, "DELAY 1 200", t0), "OK");
    CHECK_STR(send(&st, "PULSE 1000", t0), "OK");
    send(&st, "FIRE", t0);
    CHECK_EQ(tb_shutter_mask(&st, t0 + 150), 0x1);   /* wrapped past zero */
    CHECK_EQ(tb_shutter_mask(&st, t0 + 250), 0x3);
    tb_sync_edge(&st, 1, t0 + 300);
    CHECK_STR(send(&st, "SYNC?", t0 + 400), "SYNC 1:300");
}

static void test_sync_timestamps(void)
{
    tb_state st;
    tb_init(&st, 4, "TB0006", 0);
    send(&st, "FIRE 0xB", 5000);
    tb_sync_edge(&st, 0, 5000 + 41000);
    tb_sync_edge(&st, 3, 5000 + 39500);
    tb_sync_edge(&st, 0, 5000 + 90000);  /* a second edge (e.g. flash recycle) is ignored */
    tb_sync_edge(&st, 2, 5000 + 40000);  /* output 2 was not fired */
    tb_sync_edge(&st, 9, 5000 + 40000);  /* no such output */
    CHECK_STR(send(&st, "SYNC?", 200000), "SYNC 0:41000 3:39500");
    /* a new FIRE forgets the previous timestamps */
    send(&st, "FIRE", 300000);
    CHECK_STR(send(&st, "SYNC?", 300001), "SYNC");
}

static void test_watchdog(void)
{
    tb_state st;
    tb_init(&st, 4, "TB0007", 0);
    CHECK_STR(send(&st, "WDT 100", 0), "OK");
    CHECK(!tb_tick(&st, 500000));  /* nothing held: silence is harmless */
    CHECK_STR(send(&st, "FOCUS 0x3", 500000), "OK");
    CHECK(!tb_tick(&st, 600000));
    CHECK_STR(send(&st, "PING", 600000), "PONG");  /* keepalive */
    CHECK(!tb_tick(&st, 700000));
    CHECK(tb_tick(&st, 700001));
    CHECK_STR(st.reply, "! WATCHDOG released all outputs after 100 ms without a command");
    CHECK_EQ(tb_focus_mask(&st, 700002), 0);
    CHECK(!tb_tick(&st, 900000));  /* reported once */
    /* a pulse in progress is cut short too (a held shutter on a bulb setting would never close) */
    CHECK_STR(send(&st, "PULSE 2000000", 1000000), "OK");
    send(&st, "FIRE", 1000000);
    CHECK(tb_tick(&st, 1100001));
    CHECK_EQ(tb_shutter_mask(&st, 1100002), 0);
}

static void test_outputs_bounds(void)
{
    tb_state st;
    tb_init(&st, 16, "TB0008", 0);
    CHECK_STR(send(&st, "FOCUS 0xFFFF", 0), "OK");
    CHECK_STR(send(&st, "FOCUS 0x10000", 0), "ERR 3 no such output");
    CHECK_STR(send(&st, "DELAY 15 1000000", 0), "OK");
    tb_init(&st, 40, "A-SERIAL-LONGER-THAN-SIXTEEN", 0);
    CHECK_EQ(st.outputs, TB_MAX_OUTPUTS);
    CHECK_STR(send(&st, "ID?", 0), "ID capturerig-trigger " TB_FW_VERSION " A-SERIAL-LONGER- 16");
}

int main(void)
{
    test_identify();
    test_errors();
    test_focus_and_release();
    test_fire_with_delays();
    test_fire_across_clock_wrap();
    test_sync_timestamps();
    test_watchdog();
    test_outputs_bounds();
    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
