/* memkv--1.0--1.1.sql: upgrade an installed memkv 1.0 to 1.1
 * (ALTER EXTENSION memkv UPDATE TO '1.1'). */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION memkv UPDATE TO '1.1'" to load this file. \quit
