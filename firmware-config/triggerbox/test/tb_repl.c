/*
 * A host REPL around the firmware's parser, for the conformance test that runs the same script through
 * this and the Python simulator (tests/unit/test_triggerbox_firmware.py). Reads stdin line by line:
 *
 *   @<us>            set the box clock (microseconds)
 *   %SYNC <out>      a flash-sync edge on <out> now
 *   %TICK            run the watchdog; prints its notice if it released outputs
 *   %PINS            print "PINS focus=0x.... shutter=0x...."
 *   anything else    a command line fed byte by byte to tb_feed; prints the reply (if any)
 *
 * Usage: tb_repl <outputs> <serial>
 */
#include "../parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    tb_state st;
    char line[512];
    uint32_t now = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s <outputs> <serial>\n", argv[0]);
        return 2;
    }
    tb_init(&st, (uint8_t)atoi(argv[1]), argv[2], now);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '@') {
            now = (uint32_t)strtoul(line + 1, NULL, 10);
        } else if (strncmp(line, "%SYNC ", 6) == 0) {
            tb_sync_edge(&st, (uint8_t)atoi(line + 6), now);
        } else if (strcmp(line, "%TICK") == 0) {
            if (tb_tick(&st, now)) printf("%s\n", st.reply);
        } else if (strcmp(line, "%PINS") == 0) {
            printf("PINS focus=0x%04X shutter=0x%04X\n", (unsigned)tb_focus_mask(&st, now),
                   (unsigned)tb_shutter_mask(&st, now));
        } else {
            for (char *p = line; *p; ++p) {
                if (tb_feed(&st, *p, now)) printf("%s\n", st.reply);
            }
            if (tb_feed(&st, '\n', now)) printf("%s\n", st.reply);
        }
    }
    return 0;
}
