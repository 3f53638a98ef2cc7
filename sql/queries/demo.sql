-- name: demo_insert_device
INSERT INTO devices (user_id, name, phone, jid, status, min_delay_s, max_delay_s)
VALUES (:user_id, :name, :phone, :jid, 'online', :min_delay, :max_delay)
RETURNING id

-- name: demo_insert_leads
-- Sample leads in three niches; phones are valid Malaysian mobile numbers that exist only in the
-- simulated network.
INSERT INTO leads (user_id, phone, name, niches, target_status, attributes)
SELECT :user_id,
       '+6012' || lpad((3000000 + g)::text, 7, '0'),
       (ARRAY['Aisyah', 'Ben', 'Chen Wei', 'Devi', 'Farid', 'Grace', 'Hafiz', 'Irene'])[1 + g % 8]
           || ' ' || (ARRAY['Tan', 'Lim', 'Rahman', 'Kaur', 'Wong', 'Ismail'])[1 + g % 6],
       ARRAY[(ARRAY['fitness', 'yoga', 'real estate'])[1 + g % 3]],
       CASE WHEN g % 5 = 0 THEN 'customer' ELSE 'prospect' END,
       jsonb_build_object('city', (ARRAY['Kuala Lumpur', 'Penang', 'Johor Bahru'])[1 + g % 3])
FROM generate_series(1, :count) AS g
ON CONFLICT (user_id, phone) DO NOTHING

-- name: demo_insert_media
INSERT INTO media (user_id, filename, content_type, size_bytes, sha256, data)
VALUES (:user_id, :filename, :content_type, :size_bytes, :sha256, :data)
RETURNING id

-- name: demo_insert_sequence
INSERT INTO sequences (user_id, name, description, niche, target_status, status, timezone)
VALUES (:user_id, :name, :description, :niche, 'all', 'active', :timezone)
RETURNING id

-- name: demo_insert_step
INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, message_type, body, media_id,
                            caption, filename)
VALUES (:user_id, :sequence_id, :day, :send_time, :message_type, :body, :media_id, :caption,
        :filename)

-- name: demo_insert_campaign
INSERT INTO campaigns (user_id, title, niche, target_status, scheduled_at, timezone, message_type,
                       body, status)
VALUES (:user_id, :title, :niche, 'all', :scheduled_at, :timezone, 'text', :body, 'scheduled')
RETURNING id
