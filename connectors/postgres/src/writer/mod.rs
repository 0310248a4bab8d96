//! PostgreSQL writer: binary COPY FROM.
