-- Sample warehouse schema for the local stack (docker-compose.yml).
-- Runs once, when the postgres volume is first created.
--
-- Every table uses REPLICA IDENTITY FULL so that Debezium's "before" image
-- holds the whole row: zohosink needs it to skip updates that changed no
-- mapped column, and the audience mirror sync needs the Email of a member
-- who left (a delete) to find the Zoho record to untag. With the default
-- replica identity a delete carries only the primary key.

CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    first_name  text,
    last_name   text NOT NULL,
    email       text NOT NULL UNIQUE,
    phone       text,
    title       text,
    city        text,
    state       text,
    country     text,
    updated_at  timestamp(6) NOT NULL DEFAULT now()
);

CREATE TABLE leads (
    id          bigserial PRIMARY KEY,
    first_name  text,
    last_name   text NOT NULL,
    email       text NOT NULL UNIQUE,
    company     text,
    phone       text,
    title       text,
    city        text,
    state       text,
    country     text
);

CREATE TABLE companies (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    phone       text,
    website     text,
    industry    text,
    city        text,
    state       text,
    country     text
);

CREATE TABLE opportunities (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    stage         text NOT NULL,
    closing_date  date,
    amount        numeric(12,2),
    company_name  text
);

CREATE TABLE newsletter_members (
    email       text PRIMARY KEY,
    first_name  text,
    last_name   text NOT NULL,
    joined_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE customers REPLICA IDENTITY FULL;
ALTER TABLE leads REPLICA IDENTITY FULL;
ALTER TABLE companies REPLICA IDENTITY FULL;
ALTER TABLE opportunities REPLICA IDENTITY FULL;
ALTER TABLE newsletter_members REPLICA IDENTITY FULL;

INSERT INTO customers (first_name, last_name, email, phone, title, city, state, country) VALUES
    ('Sally', 'Thomas', 'sally.thomas@acme.com', '+1 555 0101', 'CTO', 'Austin', 'TX', 'USA'),
    ('George', 'Bailey', 'gbailey@foobar.com', '+1 555 0102', 'Buyer', 'Bedford Falls', 'NY', 'USA'),
    ('Edward', 'Walker', 'ed@walker.com', NULL, NULL, 'Portland', 'OR', 'USA'),
    ('Anne', 'Kretchmar', 'annek@noanswer.org', '+44 20 7946 0958', 'Director', 'London', NULL, 'UK');

INSERT INTO leads (first_name, last_name, email, company, phone, title, city, state, country) VALUES
    ('Priya', 'Raman', 'priya.raman@example.in', 'Raman Textiles', '+91 98450 00000', 'Owner', 'Chennai', 'TN', 'India'),
    ('Tom', 'Hagen', 'tom@hagen-law.com', 'Hagen Law', NULL, 'Partner', 'New York', 'NY', 'USA'),
    -- No company: zohosink dead-letters it (MAPPING_ERROR, zoho.field Company).
    ('Nora', 'Blank', 'nora@nowhere.example', NULL, NULL, NULL, NULL, NULL, NULL);

INSERT INTO companies (name, phone, website, industry, city, state, country) VALUES
    ('Acme Corp', '+1 555 0100', 'https://acme.example', 'Manufacturing', 'Austin', 'TX', 'USA'),
    ('Foobar Inc', '+1 555 0200', 'https://foobar.example', 'Retail', 'Bedford Falls', 'NY', 'USA'),
    ('Raman Textiles', '+91 44 0000 0000', NULL, 'Textiles', 'Chennai', 'TN', 'India');

INSERT INTO opportunities (name, stage, closing_date, amount, company_name) VALUES
    ('Acme renewal 2027', 'Negotiation/Review', '2027-01-31', 48000.00, 'Acme Corp'),
    ('Foobar pilot', 'Qualification', '2026-12-15', 7500.50, 'Foobar Inc'),
    ('Raman looms', 'Closed Won', '2026-11-20', 120000.00, 'Raman Textiles');

INSERT INTO newsletter_members (email, first_name, last_name) VALUES
    ('sally.thomas@acme.com', 'Sally', 'Thomas'),
    ('annek@noanswer.org', 'Anne', 'Kretchmar'),
    ('reader@example.org', 'Rita', 'Reader');
