// The Prometheus text format: the strict parser the tests read /metrics with (prometheus.ts),
// and the exposition's escaping.
import { describe, it, expect } from 'vitest';
import { escapeLabelValue } from '../../src/scheduler/metrics.js';
import { parsePrometheus, valueOf } from './prometheus.js';

describe('the test parser', () => {
  it('reads a valid exposition with escapes, a histogram and timestamps', () => {
    const text = [
      '# HELP a_total Things\\\\done,\\nsecond line.',
      '# TYPE a_total counter',
      'a_total{x="q\\"uo\\\\te\\nnl",y="2",} 3 1700000000000',
      '# TYPE h histogram',
      'h_bucket{le="0.1"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum 0.3',
      'h_count 2',
      'untyped_one NaN',
      '',
    ].join('\n');
    const families = parsePrometheus(text);
    expect(families.get('a_total')!.help).toBe('Things\\done,\nsecond line.');
    expect(families.get('a_total')!.samples[0]).toEqual({ name: 'a_total', labels: { x: 'q"uo\\te\nnl', y: '2' }, value: 3, timestamp: 1700000000000 });
    expect(valueOf(families, 'h_count')).toBe(2);
    expect(Number.isNaN(valueOf(families, 'untyped_one'))).toBe(true);
  });

  it.each([
    ['a bad escape', 'm{a="\\x"} 1\n'],
    ['an unclosed label value', 'm{a="1} 1\n'],
    ['a bad metric name', '1m 1\n'],
    ['a value that is no float', 'm 1,5\n'],
    ['no final line feed', 'm 1'],
    ['a TYPE after samples', 'm 1\n# TYPE m gauge\n'],
    ['two TYPE lines', '# TYPE m gauge\n# TYPE m gauge\n'],
    ['a family split up', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'],
    ['a duplicate series', 'm{a="1",b="2"} 1\nm{b="2",a="1"} 1\n'],
    ['a negative counter', '# TYPE c_total counter\nc_total -1\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['a reserved label name', 'm{__name__="x"} 1\n'],
  ])('refuses %s', (_, text) => {
    expect(() => parsePrometheus(text)).toThrow();
  });
});

describe('escapeLabelValue', () => {
  it('escapes backslash, double quote and line feed, and nothing else', () => {
    expect(escapeLabelValue('a\\b"c\nd\te')).toBe('a\\\\b\\"c\\nd\te');
  });
});
