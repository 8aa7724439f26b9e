/*
 * capturerig trigger box: board layer for an ATmega2560 (Arduino Mega 2560 or a bare chip at 16 MHz).
 * Everything protocol-related lives in parser.c; this file only moves bytes and pins.
 *
 * 16 outputs. Output i drives two opto-isolators (active high here, pulling the camera's remote line low):
 *   focus   (half-press): PORTA bit i (outputs 0-7),  PORTC bit i-8 (outputs 8-15)
 *   shutter (full-press): PORTL bit i (outputs 0-7),  PORTF bit i-8 (outputs 8-15; JTAG disabled at boot)
 * Flash-sync (hot-shoe X contact) input i, active low with the internal pull-up, on pin-change interrupts:
 *   PORTB bit i (PCINT0-7, outputs 0-7), PORTK bit i-8 (PCINT16-23, outputs 8-15)
 * Host link: USART0 (the USB bridge), 115200 8N1.
 * Clock: Timer1 at 2 MHz (prescaler 8) + overflow count = a 32-bit microsecond counter.
 *
 * The main loop never blocks: received bytes go through an interrupt-fed ring, replies leave one byte per
 * pass, so the shutter edges are placed within one loop pass (a few microseconds) of their schedule.
 * The AVR hardware watchdog resets a hung board, and every output starts released after a reset.
 *
 * Build: make avr   (avr-gcc -mmcu=atmega2560 -DF_CPU=16000000UL -Os)
 */
#include <avr/eeprom.h>
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/wdt.h>
#include <stdint.h>

#include "parser.h"

#define OUTPUTS 16
#define BAUD 115200UL
#define RX_RING 64   /* power of two */
#define TX_RING 256  /* power of two, longer than the longest reply */
#define SERIAL_EEPROM_ADDR ((const void *)0)

static volatile uint16_t clock_overflows;
static volatile uint8_t rx_ring[RX_RING];
static volatile uint8_t rx_head, rx_tail;
static uint8_t tx_ring[TX_RING];
static uint8_t tx_head, tx_tail;
static volatile uint16_t sync_pending;           /* outputs with a captured edge not yet handed on */
static volatile uint32_t sync_time[OUTPUTS];
static volatile uint8_t last_pinb = 0xFF, last_pink = 0xFF;
static tb_state state;

ISR(TIMER1_OVF_vect)
{
    ++clock_overflows;
}

/* Microseconds since boot (wraps after 2^32 us); callable with interrupts on or off. */
static uint32_t micros(void)
{
    uint8_t sreg = SREG;
    uint16_t high, ticks;
    cli();
    high = clock_overflows;
    ticks = TCNT1;
    if ((TIFR1 & _BV(TOV1)) && ticks < 0x8000) ++high;  /* an overflow is pending: count it */
    SREG = sreg;
    return ((uint32_t)high << 15) + (ticks >> 1);
}

ISR(USART0_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) & (RX_RING - 1));
    if (next != rx_tail) {  /* a full ring drops the byte; the line then fails to parse and gets an ERR */
        rx_ring[rx_head] = c;
        rx_head = next;
    }
}

static void capture_sync(uint8_t fell, uint8_t first_output)
{
    uint32_t now = micros();
    for (uint8_t bit = 0; bit < 8; ++bit) {
        uint16_t mask = (uint16_t)(1U << (first_output + bit));
        if ((fell & (1U << bit)) && !(sync_pending & mask)) {
            sync_time[first_output + bit] = now;
            sync_pending |= mask;
        }
    }
}

ISR(PCINT0_vect)
{
    uint8_t pins = PINB;
    capture_sync((uint8_t)(last_pinb & ~pins), 0);
    last_pinb = pins;
}

ISR(PCINT2_vect)
{
    uint8_t pins = PINK;
    capture_sync((uint8_t)(last_pink & ~pins), 8);
    last_pink = pins;
}

static void queue_byte(uint8_t c)
{
    uint8_t next = (uint8_t)((tx_head + 1) & (TX_RING - 1));
    if (next != tx_tail) {  /* cannot fill with one reply per command line; never block the loop */
        tx_ring[tx_head] = c;
        tx_head = next;
    }
}

static void queue_reply(const char *text)
{
    for (; *text; ++text) queue_byte((uint8_t)*text);
    queue_byte('\n');
}

static void write_pins(uint16_t focus, uint16_t shutter)
{
    PORTA = (uint8_t)focus;
    PORTC = (uint8_t)(focus >> 8);
    PORTL = (uint8_t)shutter;
    PORTF = (uint8_t)(shutter >> 8);
}

static void setup(void)
{
    char serial[TB_SERIAL_MAX + 1];
    uint8_t i;
    MCUSR = 0;
    wdt_enable(WDTO_250MS);
    /* JTAG owns PF4-PF7 unless disabled; JTD must be written twice within four cycles. */
    MCUCR |= _BV(JTD);
    MCUCR |= _BV(JTD);
    write_pins(0, 0);
    DDRA = DDRC = DDRL = DDRF = 0xFF;
    DDRB = DDRK = 0x00;
    PORTB = PORTK = 0xFF;  /* pull-ups: an open hot-shoe reads high */
    PCICR = _BV(PCIE0) | _BV(PCIE2);
    PCMSK0 = 0xFF;
    PCMSK2 = 0xFF;
    TCCR1A = 0;
    TCCR1B = _BV(CS11);  /* clk/8 = 2 MHz */
    TIMSK1 = _BV(TOIE1);
    UCSR0A = _BV(U2X0);
    UBRR0 = (uint16_t)((F_CPU / (8UL * BAUD)) - 1UL);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);  /* 8N1 */
    eeprom_read_block(serial, SERIAL_EEPROM_ADDR, TB_SERIAL_MAX);
    serial[TB_SERIAL_MAX] = '\0';
    for (i = 0; serial[i]; ++i) {
        if (serial[i] < '!' || serial[i] > '~') break;  /* blank EEPROM reads 0xFF */
    }
    serial[i] = '\0';
    sei();
    tb_init(&state, OUTPUTS, i ? serial : "UNSET", micros());
    queue_reply("! BOOT capturerig-trigger " TB_FW_VERSION);
}

static void drain_sync(void)
{
    uint16_t pending;
    uint32_t times[OUTPUTS];
    uint8_t i;
    cli();
    pending = sync_pending;
    for (i = 0; i < OUTPUTS; ++i) times[i] = sync_time[i];
    sync_pending = 0;
    sei();
    for (i = 0; i < OUTPUTS; ++i) {
        if (pending & (1U << i)) tb_sync_edge(&state, i, times[i]);
    }
}

int main(void)
{
    setup();
    for (;;) {
        uint32_t now;
        wdt_reset();
        drain_sync();
        while (rx_tail != rx_head) {
            char c = (char)rx_ring[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1) & (RX_RING - 1));
            if (tb_feed(&state, c, micros())) queue_reply(state.reply);
        }
        now = micros();
        write_pins(tb_focus_mask(&state, now), tb_shutter_mask(&state, now));
        if (tb_tick(&state, now)) {
            write_pins(0, 0);
            queue_reply(state.reply);
        }
        if (tx_tail != tx_head && (UCSR0A & _BV(UDRE0))) {
            UDR0 = tx_ring[tx_tail];
            tx_tail = (uint8_t)((tx_tail + 1) & (TX_RING - 1));
        }
    }
}
