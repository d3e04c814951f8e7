#!/bin/bash
tar czf "$2/backup.tgz" /srv/data
