#!/usr/bin/env python3
"""prom_unit.py: turns scrapes of real agents' /metrics into a `promtool test rules` file.
Not a test itself (CTest runs tests/cli/*.sh); tests/cli/alerts_promtool.sh uses it.

  prom_unit.py --rules RULES.yaml --spec SPEC --scrapes DIR --out TEST.yaml [--interval 1m]

DIR/<scenario>/<target>/ holds two scrapes of one agent, a.prom and b.prom, taken 5 s or more
apart, and `times` ("WALL_A WALL_B", Unix seconds); or a file `down` alone for a target that
Prometheus cannot scrape (up == 0, no other series).

Each scraped series becomes an input series as Prometheus would store it, continued over the
test's time range:
  - labels: the target's job="regsync" and instance="<target>" are added; a scraped label of
    the same name is renamed exported_<name> (honor_labels: false, Prometheus's default), so the
    agent's own `instance` label arrives as exported_instance;
  - counters (# TYPE counter) grow at the rate measured between the two scrapes;
  - gauges named *_timestamp_seconds are moved to the test's clock (promtool starts at Unix time
    0): a timestamp that followed the wall clock between the scrapes keeps following it (the
    same age), one that did not stays as far in the past as it was;
  - other gauges that grew like the clock between the scrapes (an age, a lag) keep growing like
    it; the rest keep their value;
  - up{job, instance} is 1 for a scraped target, 0 for a `down` one.

SPEC lines (# comments):
  scenario NAME EVAL_TIME...            evaluate NAME's alerts at these times (e.g. 10m 1h 7h)
  fire NAME EVAL_TIME ALERT k=v,k=v...  ALERT fires then with exactly these labels
Every alert of RULES not named by a `fire` line for a (scenario, time) is expected silent then.
The test runs a copy of RULES without annotations (OUT's name with .rules.yaml): promtool would
compare them too, and they do not decide what fires.
"""
import argparse
import json
import os
import re
import sys

import yaml

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def duration_s(s):
    total, rest = 0, s
    for num, unit in re.findall(r'(\d+)(ms|s|m|h|d)', s):
        total += int(num) * {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}[unit]
        rest = rest.replace(num + unit, '', 1)
    if rest or not s:
        sys.exit(f"prom_unit.py: bad duration {s!r}")
    return total


def parse(path):
    types, samples = {}, {}
    for line in open(path, encoding='utf-8'):
        line = line.rstrip('\n')
        if line.startswith('# TYPE '):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ
            continue
        if not line or line.startswith('#'):
            continue
        m = SAMPLE.match(line)
        if not m:
            sys.exit(f"prom_unit.py: {path}: cannot parse {line!r}")
        labels = tuple(sorted((k, v) for k, v in LABEL.findall(m.group(3) or '')))
        samples[(m.group(1), labels)] = float(m.group(4))
    return types, samples


def num(v):
    s = f"{v:.6f}".rstrip('0').rstrip('.')
    return '0' if s in ('-0', '') else s


def series_name(name, labels, target):
    out = {}
    for k, v in labels:
        out['exported_' + k if k in ('job', 'instance') else k] = v
    out['job'] = 'regsync'
    out['instance'] = target
    body = ','.join(f'{k}="{v}"' for k, v in sorted(out.items()))
    return f'{name}{{{body}}}'


def clocklike(va, vb, dt):
    """moved like the clock between the scrapes: within 40 % (a timestamp updated once per
    heartbeat is a step function; ages of live instances stay below two heartbeats, far less
    than 60 % of the scrapes' distance)"""
    return va is not None and dt > 0 and abs((vb - va) / dt - 1) < 0.4


def target_series(d, target, steps, interval):
    if os.path.exists(os.path.join(d, 'down')):
        return [{'series': series_name('up', (), target), 'values': f'0x{steps}'}]
    ta, tb = map(float, open(os.path.join(d, 'times')).read().split())
    types, a = parse(os.path.join(d, 'a.prom'))
    tb_types, b = parse(os.path.join(d, 'b.prom'))
    types.update(tb_types)
    dt = tb - ta
    out = [{'series': series_name('up', (), target), 'values': f'1x{steps}'}]
    for (name, labels), vb in sorted(b.items()):
        va = a.get((name, labels))
        typ = types.get(name, 'untyped')
        if typ == 'counter':
            rate = max(0.0, (vb - va) / dt) if va is not None and dt > 0 else 0.0
            start, step = vb, rate * interval
        elif name.endswith('_timestamp_seconds'):
            if vb == 0:
                start, step = 0.0, 0.0            # never happened
            else:
                start = vb - tb                   # seconds before the test's time 0
                step = interval if clocklike(va, vb, dt) else 0.0
        else:
            start, step = vb, (interval if clocklike(va, vb, dt) else 0.0)
        sign = '+' if step >= 0 else '-'
        out.append({'series': series_name(name, labels, target), 'values': f'{num(start)}{sign}{num(abs(step))}x{steps}'})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rules', required=True)
    ap.add_argument('--spec', required=True)
    ap.add_argument('--scrapes', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--interval', default='1m')
    a = ap.parse_args()
    interval = duration_s(a.interval)
    rules = yaml.safe_load(open(a.rules))
    alerts = [r['alert'] for g in rules['groups'] for r in g['rules'] if 'alert' in r]
    scenarios, fires = {}, {}
    for n, line in enumerate(open(a.spec), 1):
        w = line.split('#', 1)[0].split()
        if not w:
            continue
        if w[0] == 'scenario' and len(w) >= 3:
            scenarios[w[1]] = w[2:]
        elif w[0] == 'fire' and len(w) in (4, 5):
            labels = dict(kv.split('=', 1) for kv in w[4].split(',')) if len(w) == 5 else {}
            if w[3] not in alerts:
                sys.exit(f"prom_unit.py: {a.spec}:{n}: no alert named {w[3]} in the rules")
            fires.setdefault((w[1], w[2], w[3]), []).append(labels)
        else:
            sys.exit(f"prom_unit.py: {a.spec}:{n}: cannot read {line.strip()!r}")
    for (sc, t, _) in fires:
        if t not in scenarios.get(sc, []):
            sys.exit(f"prom_unit.py: {a.spec}: 'fire {sc} {t}' but {sc} is not evaluated at {t}")
    tests = []
    for sc, times in scenarios.items():
        horizon = max(duration_s(t) for t in times) + 1800
        steps = int(horizon // interval)
        d = os.path.join(a.scrapes, sc)
        if not os.path.isdir(d):
            sys.exit(f"prom_unit.py: no scrapes for scenario {sc} in {d}")
        series = []
        for target in sorted(os.listdir(d)):
            series += target_series(os.path.join(d, target), target, steps, interval)
        art = []
        for t in times:
            for al in alerts:
                exp = [{'exp_labels': l} for l in fires.get((sc, t, al), [])]
                art.append({'eval_time': t, 'alertname': al, 'exp_alerts': exp})
        tests.append({'name': sc, 'interval': a.interval, 'input_series': series, 'alert_rule_test': art})
    # promtool compares annotations too when an alert is expected; what fires does not depend
    # on them (`promtool check rules` checks their templates), so the test runs a copy without
    rules_copy = os.path.splitext(os.path.abspath(a.out))[0] + '.rules.yaml'
    for g in rules['groups']:
        for r in g['rules']:
            r.pop('annotations', None)
    with open(rules_copy, 'w') as f:
        yaml.safe_dump(rules, f, sort_keys=False, width=200)
    doc = {'rule_files': [os.path.basename(rules_copy)],
           'evaluation_interval': a.interval, 'tests': tests}
    with open(a.out, 'w') as f:
        yaml.safe_dump(doc, f, sort_keys=False, width=200)
    print(json.dumps({'scenarios': len(tests), 'alerts': len(alerts),
                      'series': sum(len(t['input_series']) for t in tests),
                      'checks': sum(len(t['alert_rule_test']) for t in tests)}))


if __name__ == '__main__':
    main()
