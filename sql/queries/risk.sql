-- name: assess_risk
-- Score a worker's leased devices (0-100) from what WhatsApp and the leads tell us, decide each
-- one's action and warm-up stage, and write what changed: the device row (only when something
-- differs), a device_risk_events row per action or stage change, and a device.risk_changed
-- event for the user's webhook endpoints when the action changes. The score, a sum of points
-- (README "Anti-ban"):
--   not on WhatsApp   recipient failures / attempts, 24 h (>= 10 attempts): 80 x share, <= 40
--   device failures   device failures / attempts, 24 h (>= 10 attempts): 20 x share, <= 10
--   unanswered        sends of the last 24 h to leads who never wrote to the device (>= 20
--                     sends): 50 x (share - 0.7), <= 15 (a reply rate under 30 % costs)
--   opt-outs          leads sent to in 24 h who opted out (>= 20 sends): 400 x share, <= 20
--   identical bodies  the most repeated body's share of the last 24 h (>= 20 sends):
--                     30 x (share - 0.5), <= 15
--   restrictions      timelocks and temporary bans in 7 days: 25 each, <= 50
--   new number        warm-up on and the number younger than 7 days: 10
-- Actions: at or above :slow_at 'slow', at or above :pause_at 'pause_new'. The message-level
-- signals read each device's latest 1000 sends of 24 h, from its user's range of
-- message_queue_user_sent_idx; the
-- failure counts come from device_outcomes_hourly. :budget (UNANSWERED_BUDGET) counts the
-- device's sends of 30 days to leads who never wrote to it, up to the budget. :plan_days is the
-- warm-up plan's length: a stage advances once a day at most while the action is 'none' and the
-- number's age allows, and goes back one when the action rises from 'none'.
WITH dev AS (
    SELECT d.id, d.user_id, d.name, d.phone, d.risk, d.risk_reasons, d.risk_action, d.hold_new,
           d.unanswered_30d, d.warmup, d.warmup_stage, d.warmup_stage_at,
           coalesce(floor(extract(epoch FROM now() - d.warmup_since) / 86400), 0)::int AS age_days,
           d.lease_owner IS NOT DISTINCT FROM CAST(:owner AS text) AS leased
    FROM devices d
    -- the lease is checked in the select list and where the decisions are written, never in
    -- this WHERE: lease_owner changes all the time, its statistics are stale (all NULL after
    -- an ANALYZE of idle devices), the planner then expects one device instead of 1,500 and
    -- joins the per-device signals in nested loops: 15+ minutes instead of 0.4 s (issue 16)
    WHERE d.id = ANY(CAST(:device_ids AS bigint[]))
), outcomes AS (
    SELECT h.device_id,
           sum(h.sent + h.device_failures + h.recipient_failures + h.content_failures) AS tried,
           sum(h.recipient_failures) AS recipient,
           sum(h.device_failures) AS device
    FROM device_outcomes_hourly h
    WHERE h.device_id IN (SELECT id FROM dev)
      AND h.hour >= date_trunc('hour', now()) - interval '23 hours'
    GROUP BY h.device_id
), sends AS (
    -- one range of message_queue_user_sent_idx per user of these devices (their sends of 24 h),
    -- not one per device: a per-device walk of the user's index costs devices x the user's
    -- sends (40-70 s for 1,500 devices of one user); then each device's latest 1,000
    SELECT q.device_id, q.lead_id, l.opted_out_at IS NOT NULL AS opted_out,
           EXISTS (SELECT 1 FROM inbound_messages i
                   WHERE i.lead_id = q.lead_id AND i.device_id = q.device_id) AS answered,
           count(*) OVER (PARTITION BY q.device_id, q.message_type, q.content, q.media_url,
                                       q.media_id) AS same
    FROM (
        SELECT q.device_id, q.lead_id, q.message_type, md5(q.body) AS content, q.media_url,
               q.media_id,
               row_number() OVER (PARTITION BY q.device_id ORDER BY q.sent_at DESC) AS n
        FROM message_queue q
        WHERE q.user_id IN (SELECT user_id FROM dev)
          AND q.sent_at > now() - interval '24 hours' AND q.status = 'sent'
          AND q.device_id IN (SELECT id FROM dev)
    ) q
    LEFT JOIN leads l ON l.id = q.lead_id
    WHERE q.n <= 1000
), recent AS (
    SELECT device_id, count(*) AS sent, count(*) FILTER (WHERE NOT answered) AS unanswered,
           count(*) FILTER (WHERE opted_out) AS opted_out, max(same) AS identical
    FROM sends GROUP BY device_id
), budget AS (
    -- like sends: one range of the users' index for all their devices, not a walk of the
    -- user's sends per device (devices x sends: minutes with 100,000 sends of one user)
    SELECT q.device_id, least(count(*), CAST(:budget AS integer))::int AS n
    FROM message_queue q
    WHERE CAST(:budget AS integer) IS NOT NULL
      AND q.user_id IN (SELECT user_id FROM dev) AND q.device_id IN (SELECT id FROM dev)
      AND q.sent_at > now() - interval '30 days' AND q.status = 'sent'
      AND NOT EXISTS (SELECT 1 FROM inbound_messages i
                      WHERE i.lead_id = q.lead_id AND i.device_id = q.device_id)
    GROUP BY q.device_id
), restrictions AS (
    SELECT e.device_id, count(*) AS n
    FROM device_risk_events e
    WHERE e.device_id IN (SELECT id FROM dev) AND e.kind IN ('timelock', 'temporary_ban')
      AND e.at > now() - interval '7 days'
    GROUP BY e.device_id
), signals AS (
    SELECT dev.id, s.signal, s.value, s.points::int AS points, s.text
    FROM dev
    LEFT JOIN outcomes o ON o.device_id = dev.id
    LEFT JOIN recent r ON r.device_id = dev.id
    LEFT JOIN restrictions x ON x.device_id = dev.id
    CROSS JOIN LATERAL (VALUES
        ('not_on_whatsapp', round(o.recipient::numeric / nullif(o.tried, 0), 2),
         CASE WHEN o.tried >= 10 THEN least(40, round(80.0 * o.recipient / o.tried)) ELSE 0 END,
         round(100.0 * o.recipient / nullif(o.tried, 0)) || '% of ' || o.tried
             || ' sends in 24 h went to numbers not on WhatsApp'),
        ('device_failures', round(o.device::numeric / nullif(o.tried, 0), 2),
         CASE WHEN o.tried >= 10 THEN least(10, round(20.0 * o.device / o.tried)) ELSE 0 END,
         round(100.0 * o.device / nullif(o.tried, 0)) || '% of ' || o.tried
             || ' sends in 24 h failed on the device''s side'),
        ('unanswered', round(r.unanswered::numeric / nullif(r.sent, 0), 2),
         CASE WHEN r.sent >= 20
              THEN least(15, greatest(0, round(50.0 * (r.unanswered::numeric / r.sent - 0.7))))
              ELSE 0 END,
         round(100.0 * r.unanswered / nullif(r.sent, 0)) || '% of ' || r.sent
             || ' sends in 24 h went to leads who never wrote back'),
        ('opt_outs', round(r.opted_out::numeric / nullif(r.sent, 0), 2),
         CASE WHEN r.sent >= 20 THEN least(20, round(400.0 * r.opted_out / r.sent)) ELSE 0 END,
         r.opted_out || ' of ' || r.sent || ' leads sent to in 24 h opted out'),
        ('identical_bodies', round(r.identical::numeric / nullif(r.sent, 0), 2),
         CASE WHEN r.sent >= 20
              THEN least(15, greatest(0, round(30.0 * (r.identical::numeric / r.sent - 0.5))))
              ELSE 0 END,
         r.identical || ' of ' || r.sent || ' sends in 24 h had the same content'),
        ('restrictions', x.n,
         least(50, 25 * coalesce(x.n, 0)),
         x.n || ' timelocks or temporary bans by WhatsApp in 7 days'),
        ('new_number', dev.age_days,
         CASE WHEN dev.warmup AND dev.age_days < 7 THEN 10 ELSE 0 END,
         'a new number (day ' || dev.age_days + 1 || ' of its warm-up)')
    ) AS s(signal, value, points, text)
    WHERE s.points > 0
), scored AS (
    SELECT id, least(100, sum(points))::int AS risk,
           jsonb_agg(jsonb_build_object('signal', signal, 'value', value, 'points', points,
                                        'text', text) ORDER BY points DESC, signal) AS reasons,
           string_agg(text || ' (+' || points || ')', '; ' ORDER BY points DESC, signal) AS why
    FROM signals GROUP BY id
), decided AS (
    SELECT dev.*, coalesce(s.risk, 0) AS new_risk,
           coalesce(s.reasons, '[]'::jsonb) AS new_reasons, s.why,
           CASE WHEN coalesce(s.risk, 0) >= :pause_at THEN 'pause_new'
                WHEN coalesce(s.risk, 0) >= :slow_at THEN 'slow' ELSE 'none' END AS new_action,
           CASE WHEN CAST(:budget AS integer) IS NOT NULL THEN coalesce(b.n, 0) END
               AS new_unanswered
    FROM dev
    LEFT JOIN scored s ON s.id = dev.id
    LEFT JOIN budget b ON b.device_id = dev.id
), staged AS (
    SELECT d.*,
           CASE WHEN NOT d.warmup OR d.warmup_stage >= :plan_days THEN d.warmup_stage
                WHEN d.new_action <> 'none' AND d.risk_action = 'none'
                    THEN greatest(d.warmup_stage - 1, 0)
                WHEN d.new_action = 'none' AND d.warmup_stage < d.age_days
                     AND (d.warmup_stage_at IS NULL
                          OR d.warmup_stage_at <= now() - interval '1 day')
                    THEN d.warmup_stage + 1
                ELSE d.warmup_stage END AS new_stage,
           d.new_action = 'pause_new'
               OR coalesce(d.new_unanswered >= CAST(:budget AS integer), false) AS new_hold
    FROM decided d
), updated AS (
    UPDATE devices SET
        risk = s.new_risk, risk_reasons = s.new_reasons, risk_action = s.new_action,
        hold_new = s.new_hold, unanswered_30d = s.new_unanswered, warmup_stage = s.new_stage,
        warmup_stage_at = CASE WHEN s.new_stage <> s.warmup_stage THEN now()
                               ELSE devices.warmup_stage_at END,
        updated_at = now()
    FROM staged s
    WHERE devices.id = s.id AND s.leased AND devices.lease_owner = :owner
      AND (s.risk, s.risk_reasons, s.risk_action, s.hold_new, s.unanswered_30d, s.warmup_stage)
          IS DISTINCT FROM
          (s.new_risk, s.new_reasons, s.new_action, s.new_hold, s.new_unanswered, s.new_stage)
    RETURNING devices.id
), events AS (
    INSERT INTO device_risk_events (device_id, user_id, kind, action, risk, warmup_stage, reason)
    SELECT id, user_id, 'action', new_action, new_risk, new_stage,
           CASE new_action
               WHEN 'none' THEN 'risk ' || new_risk || ': back to normal sending'
               WHEN 'slow' THEN 'risk ' || new_risk || ': delays doubled, hourly cap halved'
               ELSE 'risk ' || new_risk || ': slowed, and only leads who wrote back are sent to'
           END || coalesce(' — ' || why, '')
    FROM staged WHERE new_action <> risk_action AND leased
    UNION ALL
    SELECT id, user_id, 'warmup', new_action, new_risk, new_stage,
           CASE WHEN new_stage >= CAST(:plan_days AS integer)
                    THEN 'warm-up done: the device''s own caps apply'
                WHEN new_stage > warmup_stage
                    THEN 'warm-up stage ' || new_stage + 1 || ' of ' || :plan_days
                ELSE 'warm-up back to stage ' || new_stage + 1 || ' of ' || :plan_days
                     || ': the risk rose' END
    FROM staged WHERE new_stage <> warmup_stage AND leased
    RETURNING 1
), webhooks AS (
    SELECT webhook_emit(
        array_agg(user_id), array_agg(CAST('device.risk_changed' AS text)), array_agg(now()),
        array_agg(jsonb_build_object(
            'id', id, 'name', name, 'phone', phone, 'risk', new_risk,
            'risk_reasons', new_reasons, 'action', new_action, 'previous_action', risk_action,
            'warmup_stage', CASE WHEN warmup THEN new_stage END))) AS n
    FROM staged
    WHERE new_action <> risk_action AND leased
      AND user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
)
SELECT s.id, s.new_action AS risk_action, s.warmup, s.new_stage AS warmup_stage,
       s.new_risk AS risk, s.new_action <> s.risk_action AS action_changed,
       (SELECT count(*) FROM updated) AS updated, (SELECT count(*) FROM events) AS events,
       (SELECT n FROM webhooks) AS webhooks
FROM staged s
WHERE s.leased
ORDER BY s.id

-- name: restrict_devices
-- WhatsApp restricted devices until a time (error 463 "reach-out timelocked", a temporary ban):
-- record it on each device (next_send_at moves there too, so every wait honours it), one
-- device_risk_events row each and a device.restricted event for the user's webhook endpoints.
-- Returns the seconds each device waits.
WITH x AS (
    SELECT * FROM unnest(CAST(:device_ids AS bigint[]), CAST(:untils AS timestamptz[]),
                         CAST(:kinds AS text[]), CAST(:reasons AS text[]))
        AS x(device_id, until, kind, reason)
), d AS (
    UPDATE devices SET
        restricted_until = x.until, restriction_kind = x.kind, restriction_reason = x.reason,
        next_send_at = greatest(devices.next_send_at, x.until), updated_at = now()
    FROM x
    WHERE devices.id = x.device_id AND devices.lease_owner = :owner
    RETURNING devices.id, devices.user_id, devices.name, devices.phone, devices.risk, x.until,
              x.kind, x.reason
), e AS (
    INSERT INTO device_risk_events (device_id, user_id, kind, risk, until, reason)
    SELECT id, user_id, kind, risk, until, reason FROM d
    RETURNING 1
), webhooks AS (
    SELECT webhook_emit(
        array_agg(user_id), array_agg(CAST('device.restricted' AS text)), array_agg(now()),
        array_agg(jsonb_build_object(
            'id', id, 'name', name, 'phone', phone, 'kind', kind, 'reason', reason,
            'restricted_until', webhook_instant(until)))) AS n
    FROM d
    WHERE user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
)
SELECT d.id, greatest(extract(epoch FROM d.until - now()), 0)::float8 AS wait_s,
       (SELECT count(*) FROM e) AS events, (SELECT n FROM webhooks) AS webhooks
FROM d

-- name: lift_temporary_bans
-- Temporary bans whose stated end has passed: the device is 'offline' again, so a worker leases
-- it and reconnects (the supervisor's health tick).
UPDATE devices SET status = 'offline',
                   last_error = 'the temporary ban ended at '
                                || webhook_instant(restricted_until) || '; reconnecting',
                   updated_at = now()
WHERE status = 'banned' AND restriction_kind = 'temporary_ban' AND restricted_until <= now()
RETURNING id

-- name: device_risk_events
-- A device's latest guard events (its page and API), newest first.
SELECT e.at, e.kind, e.action, e.risk, e.warmup_stage, e.until, e.reason
FROM device_risk_events e
WHERE e.user_id = :user_id AND e.device_id = :device_id
ORDER BY e.id DESC
LIMIT :limit
